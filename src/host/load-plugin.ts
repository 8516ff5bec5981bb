import * as fs from 'node:fs';
import * as path from 'node:path';
import semver from 'semver';
import { SchemaRegistry, toProblems } from '../config';
import { PluginError } from '../errors';
import type { HostContext, PluginInstance } from '../host-api';

/** The contract version this reference host implements. */
export const HOST_API_VERSION = '1.0.0';

export interface LoadedManifest {
  dir: string;
  manifest: Record<string, unknown> & { id: string; main: string; hostApi: string; events: string[]; configSchema: string };
}

/**
 * Reads and checks plugin.json exactly as a PBX host does before loading any code: the manifest
 * against its schema (MANIFEST_INVALID), then the host's contract version against `hostApi`
 * (HOST_API_UNSUPPORTED).
 */
export function readManifest(pluginDir: string, hostApiVersion = HOST_API_VERSION): LoadedManifest {
  const file = path.join(pluginDir, 'plugin.json');
  let manifest: unknown;
  try {
    manifest = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new PluginError('MANIFEST_INVALID', `${file}: ${(e as Error).message}`, { cause: e });
  }
  const validate = new SchemaRegistry(path.join(pluginDir, 'schemas')).validator('plugin.schema.json');
  if (!validate(manifest)) {
    const problems = toProblems(validate.errors);
    throw new PluginError('MANIFEST_INVALID', `${file}: ${problems.map((p) => `${p.path} ${p.message}`).join('; ')}`, { problems });
  }
  const m = manifest as LoadedManifest['manifest'];
  if (!semver.validRange(m.hostApi) || !semver.satisfies(hostApiVersion, m.hostApi)) {
    throw new PluginError('HOST_API_UNSUPPORTED', `plugin needs hostApi ${m.hostApi}; this host implements ${hostApiVersion}`, { field: '/hostApi' });
  }
  return { dir: pluginDir, manifest: m };
}

/** `require`s the manifest's compiled entry and calls its activate(). */
export async function loadPlugin(loaded: LoadedManifest, ctx: Omit<HostContext, 'manifest'>): Promise<PluginInstance> {
  const entry = path.resolve(loaded.dir, loaded.manifest.main);
  if (!fs.existsSync(entry)) {
    throw new PluginError('MANIFEST_INVALID', `main ${loaded.manifest.main} does not exist; run \`npm install\` (or \`npm run build\`) first`, { field: '/main' });
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mod = require(entry) as { activate?: (ctx: HostContext) => Promise<PluginInstance> };
  if (typeof mod.activate !== 'function') throw new PluginError('MANIFEST_INVALID', `${entry} exports no activate()`, { field: '/main' });
  return mod.activate({ ...ctx, manifest: loaded.manifest });
}
