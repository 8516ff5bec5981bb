import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { tenantConfig } from '../helpers/events';
import { testCa } from '../helpers/smtp';
import { waitFor } from '../helpers/wait';

export interface ClusterConfigOptions {
  leaseMs?: number;
  perTenant?: number;
  global?: number;
  retry?: Record<string, number>;
  security?: 'none' | 'starttls';
  socketTimeoutMs?: number;
}

/** A node's config: the tenants' servers (port each), the PostgreSQL spool at `url`, fast retries. */
export function clusterConfig(url: string, servers: Record<string, number>, o: ClusterConfigOptions = {}) {
  const s = Object.fromEntries(Object.entries(servers).map(([t, port]) => [t, { port, security: o.security ?? 'none' }]));
  const c = tenantConfig(testCa().cert, s, {
    spool: { store: 'postgres', postgres: { connectionString: url, leaseMs: o.leaseMs ?? 2000, poolSize: 4 } },
    delivery: {
      retry: { initialDelayMs: 200, maxDelayMs: 1000, maxAgeMs: 600_000, ...o.retry },
      concurrency: { perTenant: o.perTenant ?? 4, global: o.global ?? 32 },
      messageTimeoutMs: 60_000,
      shutdownTimeoutMs: 300,
    },
  });
  // Long enough for a server that holds DATA as long as a test needs (the default 3 s would cut it).
  for (const t of Object.values(c.tenants) as { smtp: { socketTimeoutMs: number } }[]) t.smtp.socketTimeoutMs = o.socketTimeoutMs ?? 30_000;
  return c;
}

/** The database name of a createDatabase() URL. */
export function dbName(url: string): string {
  return decodeURIComponent(new URL(url).pathname.slice(1));
}

/** What a node reported (node.child.ts stdout). */
export interface NodeEmit {
  emit: string;
  eventId: string;
  tenant: string;
  messageId?: string;
  /** Epoch ms in the child when it was emitted. */
  at: number;
}

/** The handler's answer: the intake's status, or the error's code. */
export type SendAnswer = { result: 'queued' | 'duplicate'; error?: undefined } | { error: string; message?: string; result?: undefined };

const ROOT = path.join(__dirname, '../..');

/**
 * node.child.ts and what it imports (src/, test/helpers/) transpiled once to JavaScript under
 * node_modules/.cache/, keyed by the sources' hash, with the package's data folders linked in:
 * a node then starts in a fraction of the CPU ts-node takes to transpile the plugin in every child,
 * which matters with three children on two busy cores.
 */
let compiled: string | undefined;
function compiledChild(): string {
  if (compiled) return compiled;
  const ts = require('typescript') as typeof import('typescript');
  const files: string[] = [path.join(ROOT, 'test/cluster/node.child.ts')];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) files.push(p);
    }
  };
  walk(path.join(ROOT, 'src'));
  walk(path.join(ROOT, 'test/helpers'));
  const sources = files.map((f) => [path.relative(ROOT, f), fs.readFileSync(f, 'utf8')] as const);
  const hash = createHash('sha256');
  for (const [rel, text] of sources) hash.update(rel).update('\0').update(text).update('\0');
  const out = path.join(ROOT, 'node_modules/.cache/pbx-cluster-test', hash.digest('hex').slice(0, 16));
  const entry = path.join(out, 'test/cluster/node.child.js');
  if (!fs.existsSync(entry)) {
    const tmp = `${out}.${process.pid}.tmp`;
    fs.rmSync(tmp, { recursive: true, force: true });
    for (const [rel, text] of sources) {
      const js = ts.transpileModule(text, { fileName: rel, compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true } }).outputText;
      fs.mkdirSync(path.join(tmp, path.dirname(rel)), { recursive: true });
      fs.writeFileSync(path.join(tmp, rel.replace(/\.ts$/, '.js')), js);
    }
    // packageRoot() finds plugin.json here, and templates and schemas beside it.
    for (const name of ['plugin.json', 'package.json', 'schemas', 'templates', 'examples']) fs.symlinkSync(path.join(ROOT, name), path.join(tmp, name));
    try {
      fs.renameSync(tmp, out);
    } catch {
      fs.rmSync(tmp, { recursive: true, force: true }); // another test process made it meanwhile
    }
    // Builds of older sources go once nobody can be using them any more.
    const dir = path.dirname(out);
    for (const old of fs.readdirSync(dir)) {
      const p = path.join(dir, old);
      if (p !== out && Date.now() - fs.statSync(p).mtimeMs > 3_600_000) fs.rmSync(p, { recursive: true, force: true });
    }
  }
  return (compiled = entry);
}

/** The parent's side of one node.child.ts process. */
export class ClusterNode {
  readonly emitted: NodeEmit[] = [];
  readonly dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pbx-node-'));
  readonly #child: ChildProcess;
  readonly #answers = new Map<number, (v: any) => void>();
  #next = 0;
  #stderr = '';
  #ready = false;
  exited = false;

  constructor(readonly name: string, config: unknown) {
    this.#child = spawn(process.execPath, [compiledChild(), JSON.stringify({ config, dataDir: this.dataDir })], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.#child.on('exit', () => (this.exited = true));
    this.#child.stderr!.on('data', (d: Buffer) => (this.#stderr = (this.#stderr + d.toString()).slice(-8000)));
    this.#child.stdin!.on('error', () => undefined);
    readline.createInterface({ input: this.#child.stdout! }).on('line', (l) => {
      const m = JSON.parse(l);
      if (m.ready) this.#ready = true;
      else if (m.emit) this.emitted.push(m);
      else if (typeof m.id === 'number') {
        this.#answers.get(m.id)?.(m);
        this.#answers.delete(m.id);
      }
    });
  }

  static async start(name: string, config: unknown): Promise<ClusterNode> {
    const n = new ClusterNode(name, config);
    try {
      await waitFor(() => {
        if (n.exited) throw new Error(`node ${name} exited before it was ready: ${n.#stderr}`);
        return n.#ready;
      }, { what: `node ${name} ready`, timeoutMs: 60_000, detail: () => n.#stderr });
    } catch (e) {
      await n.kill();
      throw e;
    }
    return n;
  }

  get pid(): number {
    return this.#child.pid!;
  }

  stderr(): string {
    return this.#stderr;
  }

  #ask(msg: Record<string, unknown>): Promise<any> {
    const id = ++this.#next;
    return new Promise((resolve, reject) => {
      if (this.exited) return reject(new Error(`node ${this.name} is gone`));
      this.#answers.set(id, resolve);
      this.#child.stdin!.write(`${JSON.stringify({ id, ...msg })}\n`);
    });
  }

  /** Posts an event to this node's handler. */
  send(event: Record<string, unknown>): Promise<SendAnswer> {
    return this.#ask({ send: event });
  }

  /** Runs an operation on this node's plugin (messages, retry, status, lookup); rejects with its code. */
  async op<T = any>(op: string, ...args: unknown[]): Promise<T> {
    const r = await this.#ask({ op, args });
    if (r.error) throw Object.assign(new Error(r.message ?? r.error), { code: r.error });
    return r.result as T;
  }

  of(type: string): NodeEmit[] {
    return this.emitted.filter((e) => e.emit === type);
  }

  /** SIGKILL, waited for; idempotent; removes the dataDir. */
  async kill(): Promise<void> {
    if (!this.exited) {
      const gone = new Promise((r) => this.#child.once('exit', r));
      this.#child.kill('SIGKILL');
      await gone;
    }
    fs.rmSync(this.dataDir, { recursive: true, force: true });
  }
}

/** The X-PBX-Event-Id of a message as a FaultServer received it. */
export function eventIdOf(raw: string): string {
  const m = /^X-PBX-Event-Id:\s*(\S+)/im.exec(raw);
  if (!m) throw new Error(`no X-PBX-Event-Id in ${raw.slice(0, 500)}`);
  return m[1]!;
}
