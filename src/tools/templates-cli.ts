import * as fs from 'node:fs';
import * as path from 'node:path';
import { resolveConfig, SchemaRegistry, type ResolvedConfig } from '../config';
import { PluginError } from '../errors';
import type { HostLog } from '../host-api';
import { HelperRegistry, loadExtensions } from '../extensions';
import { builtInKinds } from '../kinds';
import { DEFAULT_RENDER_LIMITS, RenderService } from '../templates';
import { checkTemplates, formatFindings } from '../templates/check';
import { renderPreview } from '../templates/preview';
import { screenshotWidths } from '../templates/screenshot';
import { packageRoot } from '../util/package-root';

const USAGE = `usage:
  npm run templates -- check [--tenant ID] [--config FILE]
  npm run templates -- preview --tenant ID --event TYPE [--lang xx] [--out DIR] [--config FILE] [--width 375,1200] [--no-screenshot]

check    compiles every template (defaults, and each tenant of FILE) and reports every syntax
         error, forbidden construct and unknown variable with line and column, unknown files and
         missing parts (naming the part each mail uses instead); renders each with its sample
         on the render budget of FILE (delivery.renderTimeoutMs and the fixed caps), so a
         template over it is an error.
         Exit status: 0 no errors, 1 errors found, 2 usage or config error.
preview  renders a tenant's mail from the sample event and writes <out>/<tenant>.<event>.<lang>.html,
         .txt and .png (headless Chromium: /usr/bin/chromium or $CHROMIUM_PATH), 680 px wide;
         --width 375,1200 writes one <…>.<width>.png a width instead (200 to 2000 px).`;

interface Args {
  command?: string;
  flags: Map<string, string | true>;
}

function parse(argv: string[]): Args {
  const flags = new Map<string, string | true>();
  let command: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a.startsWith('--')) {
      const [k, v] = a.slice(2).split('=', 2) as [string, string | undefined];
      if (v !== undefined) flags.set(k, v);
      else if (argv[i + 1] !== undefined && !argv[i + 1]!.startsWith('--')) flags.set(k, argv[++i]!);
      else flags.set(k, true);
    } else if (!command) command = a;
    else throw new UsageError(`unexpected argument ${a}`);
  }
  return { ...(command && { command }), flags };
}

class UsageError extends Error {}

function str(args: Args, name: string, required = false): string | undefined {
  const v = args.flags.get(name);
  if (v === true) throw new UsageError(`--${name} needs a value`);
  if (v === undefined && required) throw new UsageError(`--${name} is required`);
  return v;
}

function loadConfig(file: string | undefined, schemas: SchemaRegistry): ResolvedConfig {
  const raw = file ? JSON.parse(fs.readFileSync(file, 'utf8')) : { defaults: {}, tenants: {} };
  return resolveConfig(raw, schemas);
}

/** Quiet log: the directory watcher's notes go to stderr only when something is wrong. */
const log: HostLog = {
  debug() {},
  info() {},
  warn: (msg, f) => process.stderr.write(`warning: ${msg} ${f ? JSON.stringify(f) : ''}\n`),
  error: (msg, f) => process.stderr.write(`error: ${msg} ${f ? JSON.stringify(f) : ''}\n`),
};

export async function main(argv: string[], out: NodeJS.WritableStream = process.stdout): Promise<number> {
  let args: Args;
  try {
    args = parse(argv);
    if (!args.command || args.flags.has('help')) {
      out.write(`${USAGE}\n`);
      return args.command || args.flags.has('help') ? 0 : 2;
    }
    const root = path.join(packageRoot(__dirname), 'templates');
    const schemas = new SchemaRegistry();
    const config = loadConfig(str(args, 'config'), schemas);
    // The configuration's extensions are loaded as the plugin loads them, so their kinds and helpers are checked and previewed too.
    const kinds = builtInKinds(schemas);
    const helpers = new HelperRegistry();
    const loaded = await loadExtensions(config.extensions, { kinds, helpers, log, timeoutMs: config.delivery.hookTimeoutMs, baseDir: packageRoot(__dirname) });
    loaded.close();
    const render = new RenderService({ root, kinds, helpers: helpers.map(), extensions: loaded.paths, log: { ...log, warn() {} }, limits: () => ({ ...DEFAULT_RENDER_LIMITS, timeMs: config.delivery.renderTimeoutMs }) });
    try {
      if (args.command === 'check') {
        const tenant = str(args, 'tenant');
        const findings = await checkTemplates({ render, config, root, ...(tenant && { tenant }) });
        out.write(`${formatFindings(findings)}\n`);
        return findings.some((f) => f.level === 'error') ? 1 : 0;
      }
      if (args.command === 'preview') {
        const tenant = str(args, 'tenant', true)!;
        const eventType = str(args, 'event', true)!;
        const language = str(args, 'lang');
        const dir = path.resolve(str(args, 'out') ?? 'template-preview');
        const r = await renderPreview({ render, kinds: render.renderer.kinds, config, anyTenant: true }, { tenant, eventType, ...(language && { language }) });
        for (const p of r.problems) out.write(`${p.template}${p.line ? `:${p.line}${p.column ? `:${p.column}` : ''}` : ''}: error: ${p.message} (the next level was used)\n`);
        fs.mkdirSync(dir, { recursive: true });
        const base = path.join(dir, `${tenant}.${eventType}.${r.language}`);
        fs.writeFileSync(`${base}.html`, r.html);
        fs.writeFileSync(`${base}.txt`, `Subject: ${r.subject}\nContent-Language: ${r.language}\n\n${r.text}`);
        out.write(`wrote ${base}.html\nwrote ${base}.txt\n`);
        if (!args.flags.has('no-screenshot')) {
          const asked = str(args, 'width');
          const widths = asked === undefined ? [680] : asked.split(',').map(Number);
          if (widths.some((w) => !Number.isInteger(w) || w < 200 || w > 2000)) throw new UsageError(`--width takes widths in CSS pixels from 200 to 2000, comma-separated (375,1200); received ${asked}`);
          const pngs = await screenshotWidths(r.html, widths);
          for (const [i, png] of pngs.entries()) {
            const file = asked === undefined ? `${base}.png` : `${base}.${widths[i]}.png`;
            fs.writeFileSync(file, png);
            out.write(`wrote ${file}\n`);
          }
        }
        return 0;
      }
      throw new UsageError(`unknown command ${args.command}`);
    } finally {
      await render.dispose();
    }
  } catch (e) {
    if (e instanceof UsageError) {
      out.write(`${e.message}\n${USAGE}\n`);
      return 2;
    }
    if (e instanceof PluginError) {
      out.write(`${e.code}: ${e.message}\n${(e.problems ?? []).map((p) => `  ${p.path} ${p.message}`).join('\n')}\n`);
      return 2;
    }
    out.write(`${(e as Error).message}\n`);
    return 2;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (e) => {
      process.stderr.write(`${(e as Error).stack}\n`);
      process.exitCode = 2;
    },
  );
}
