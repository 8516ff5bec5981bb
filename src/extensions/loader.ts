import * as fs from 'node:fs';
import * as path from 'node:path';
import { PluginError } from '../errors';
import type { Disposable, HostLog } from '../host-api';
import { HOOK_NAMES, type Hook, type HookName } from '../hooks';
import { kindApi, type KindRegistry } from '../kinds';
import { escapeHtml, safeString } from '../templates/safe-string';
import { settleWithin } from '../util/settle-within';
import type { ExtensionApi, ExtensionModule, ExtensionStatus } from './api';
import type { HelperRegistry } from './helper-registry';

export interface LoadDeps {
  kinds: KindRegistry;
  helpers: HelperRegistry;
  /** Registers a hook for an extension; absent in a render worker, where hooks are not run. */
  hook?: <N extends HookName>(name: N, fn: Hook<N>, origin: string) => Disposable;
  log: HostLog;
  /** How long one register() may take, in milliseconds (delivery.hookTimeoutMs). */
  timeoutMs: number;
  /** Where package names are resolved from: the plugin's own directory. */
  baseDir: string;
}

export interface LoadedExtensions {
  statuses: ExtensionStatus[];
  /** Resolved paths of the extensions that loaded, for render workers to load too. */
  paths: string[];
  /** Refuses every further registration (activate() has resolved). */
  close(): void;
}

/**
 * Loads the configured extensions one after the other: resolves each (an absolute path, or a
 * package name from the plugin's directory), requires it and awaits its `register(api)` on the
 * budget. One that cannot be found, throws while loading, exports no register(), or whose
 * register() throws, rejects or does not settle in time is logged (EXTENSION_FAILED) and left
 * out with everything it registered; the others and the built-in kinds are untouched.
 */
export async function loadExtensions(specs: readonly string[], d: LoadDeps): Promise<LoadedExtensions> {
  const statuses: ExtensionStatus[] = [];
  const paths: string[] = [];
  const closers: (() => void)[] = [];
  for (const spec of specs) {
    const status: ExtensionStatus = { module: spec, name: spec, state: 'failed', kinds: [], hooks: [], helpers: [] };
    statuses.push(status);
    const undo: (() => void)[] = [];
    let closed = false;
    const fail = (message: string, cause?: unknown) => {
      for (const u of undo.splice(0).reverse()) u();
      status.kinds = [];
      status.hooks = [];
      status.helpers = [];
      closed = true;
      status.state = 'failed';
      status.error = { code: 'EXTENSION_FAILED', message: `EXTENSION_FAILED: ${message}` };
      d.log.error('extension not loaded; the plugin runs without it', { code: 'EXTENSION_FAILED', extension: status.name, module: spec, error: status.error.message, ...(cause instanceof PluginError && { cause: cause.code }) });
    };
    let file: string;
    try {
      file = path.isAbsolute(spec) ? require.resolve(spec) : require.resolve(spec, { paths: [d.baseDir] });
    } catch (e) {
      fail(`${JSON.stringify(spec)} cannot be found (${path.isAbsolute(spec) ? 'no such module file' : `no package of that name from ${d.baseDir}`}): ${firstLine(e)}`, e);
      continue;
    }
    status.path = file;
    status.name = extensionName(spec, file);
    let mod: Partial<ExtensionModule> & { default?: Partial<ExtensionModule> };
    try {
      mod = require(file) as typeof mod;
    } catch (e) {
      fail(`${status.name} threw while loading: ${firstLine(e)}`, e);
      continue;
    }
    const register = typeof mod?.register === 'function' ? mod.register : typeof mod?.default?.register === 'function' ? mod.default.register : undefined;
    if (!register) {
      fail(`${status.name} exports no register(api) function`);
      continue;
    }
    const origin = status.name;
    const guard = (what: string, code: 'KIND_INVALID' | 'HOOK_INVALID' | 'HELPER_INVALID') => {
      if (closed) throw new PluginError(code, `${origin}: ${what} refused: registration is closed (activate() has resolved, or this extension's register() failed)`);
    };
    const kinds = kindApi(d.kinds, origin, (type) => {
      status.kinds.push(type);
      undo.push(() => d.kinds.remove(type));
    });
    const log = tagged(d.log, origin);
    const api: ExtensionApi = {
      name: origin,
      shapes: kinds.shapes,
      log,
      defineEvent: (type, spec) => {
        guard(`defineEvent(${JSON.stringify(type)})`, 'KIND_INVALID');
        kinds.defineEvent(type, spec);
      },
      hook: (name, fn) => {
        guard(`hook(${JSON.stringify(name)})`, 'HOOK_INVALID');
        if (!d.hook) {
          checkHook(name, fn);
        } else {
          const reg = d.hook(name, fn, origin);
          undo.push(() => reg.dispose());
        }
        status.hooks.push(name);
      },
      helper: (name, fn) => {
        guard(`helper(${JSON.stringify(name)})`, 'HELPER_INVALID');
        d.helpers.define(name, fn, origin);
        status.helpers.push(name);
        undo.push(() => d.helpers.remove(name));
      },
      safeString,
      escape: escapeHtml,
    };
    try {
      await settleWithin(() => register(api), d.timeoutMs, () => TIMEOUT);
      status.state = 'loaded';
      paths.push(file);
      closers.push(() => (closed = true));
      log.info('extension loaded', { kinds: status.kinds, hooks: status.hooks, helpers: status.helpers });
    } catch (e) {
      if (e === TIMEOUT) fail(`${origin}: register() did not settle within ${d.timeoutMs} ms (delivery.hookTimeoutMs)`);
      else fail(`${origin}: register() failed: ${e instanceof PluginError ? `${e.code}: ` : ''}${firstLine(e)}`, e);
    }
  }
  return { statuses, paths, close: () => closers.forEach((c) => c()) };
}

const TIMEOUT = Symbol('timeout');

/** Hook checks where hooks do not run (render workers): the same refusals as Hooks.add. */
function checkHook(name: unknown, fn: unknown): void {
  if (typeof name !== 'string' || !(HOOK_NAMES as readonly string[]).includes(name)) throw new PluginError('HOOK_INVALID', `unknown hook ${JSON.stringify(name)}; expected one of ${HOOK_NAMES.join(', ')}`, { field: 'name' });
  if (typeof fn !== 'function') throw new PluginError('HOOK_INVALID', `hook ${name} must be a function`, { field: 'fn' });
}

function tagged(log: HostLog, extension: string): HostLog {
  const at = (level: keyof HostLog) => (msg: string, fields?: Record<string, unknown>) => log[level](msg, { ...fields, extension });
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** A package's name for a package spec; for a path, the `name` of a package.json beside the file, else the file's (or its folder's, for index.js) base name. */
function extensionName(spec: string, file: string): string {
  if (!path.isAbsolute(spec)) return spec;
  try {
    const pkg = JSON.parse(fs.readFileSync(path.join(path.dirname(file), 'package.json'), 'utf8')) as { name?: unknown };
    if (typeof pkg.name === 'string' && pkg.name) return pkg.name;
  } catch {
    // no package.json there: named after the file
  }
  const base = path.basename(file).replace(/\.[cm]?[jt]s$/, '');
  return base === 'index' ? path.basename(path.dirname(file)) : base;
}

function firstLine(e: unknown): string {
  return String((e as Error)?.message ?? e).split('\n')[0]!.slice(0, 300);
}
