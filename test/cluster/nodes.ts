import { spawn, type ChildProcess } from 'node:child_process';
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
    this.#child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', path.join(__dirname, 'node.child.ts'), JSON.stringify({ config, dataDir: this.dataDir })], {
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
    await waitFor(() => {
      if (n.exited) throw new Error(`node ${name} exited before it was ready: ${n.#stderr}`);
      return n.#ready;
    }, { what: `node ${name} ready`, timeoutMs: 30_000, detail: () => n.#stderr });
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
