import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SMTPServer } from 'smtp-server';
import type { ClockChildOptions } from './clock-child';
import { refusedPort } from '../helpers/fault-servers';

const T = 'clock.example.com';
const CHILD = path.join(__dirname, 'clock-child.ts');
const LIBFAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';
const DAY = 86_400_000;

/**
 * libfaketime: LD_PRELOAD it and FAKETIME shifts what the process reads from the clock. By default
 * it shifts CLOCK_MONOTONIC too; FAKETIME_DONT_FAKE_MONOTONIC=1 leaves it alone, which is what a
 * real clock step (NTP, `date -s`) does: only the wall clock moves. With FAKETIME_TIMESTAMP_FILE
 * and FAKETIME_NO_CACHE=1 the offset is read from a file on every call, so a test can move the
 * clock of a running process.
 */
function faketime(offset: string): NodeJS.ProcessEnv {
  return { LD_PRELOAD: LIBFAKETIME, FAKETIME: offset, FAKETIME_DONT_FAKE_MONOTONIC: '1' };
}

/** A plaintext SMTP server on loopback recording every message's event id; with `rcptCode`, it refuses every recipient so. */
class Sink {
  readonly received: string[] = [];
  connections = 0;
  #server!: SMTPServer;

  static async start(port = 0, rcptCode?: number): Promise<Sink> {
    const s = new Sink();
    s.#server = new SMTPServer({
      onConnect: (_session, cb) => {
        s.connections++;
        cb();
      },
      onRcptTo: (_addr, _session, cb) => {
        if (rcptCode === undefined) return cb();
        cb(Object.assign(new Error('Try again later'), { responseCode: rcptCode }));
      },
      secure: false,
      disabledCommands: ['STARTTLS', 'AUTH'],
      authOptional: true,
      logger: false,
      disableReverseLookup: true,
      onData: (stream, _session, cb) => {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          s.received.push(/^X-PBX-Event-Id:\s*(\S+)/im.exec(Buffer.concat(chunks).toString('latin1'))?.[1] ?? '?');
          cb();
        });
      },
    });
    s.#server.on('error', () => undefined);
    await new Promise<void>((r) => s.#server.listen(port, '127.0.0.1', r));
    return s;
  }

  get port(): number {
    return (this.#server.server.address() as { port: number }).port;
  }

  close(): Promise<void> {
    return new Promise((r) => this.#server.close(() => r()));
  }
}

/** One clock-child process and what it printed. */
class Child {
  readonly lines: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly proc: ChildProcess;
  #stderr = '';
  #waiters: (() => void)[] = [];

  constructor(opts: ClockChildOptions, env: NodeJS.ProcessEnv = {}) {
    this.proc = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', CHILD], {
      cwd: path.join(__dirname, '../..'),
      env: { ...process.env, ...env, CLOCK_OPTS: JSON.stringify(opts) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let buf = '';
    this.proc.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      for (let nl; (nl = buf.indexOf('\n')) >= 0; ) {
        this.lines.push(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
      this.#wake();
    });
    this.proc.stderr!.on('data', (d: Buffer) => (this.#stderr += d.toString()));
    this.exited = new Promise((r) =>
      this.proc.once('exit', (code, signal) => {
        r({ code, signal });
        this.#wake();
      }),
    );
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  /** Lines starting with `word`, split on the first spaces. */
  said(word: string): string[][] {
    return this.lines.filter((l) => l.startsWith(`${word} `) || l === word).map((l) => l.split(' '));
  }

  async until(pred: () => boolean, what: string, ms = 30_000): Promise<void> {
    const end = Date.now() + ms;
    while (!pred()) {
      if (this.proc.exitCode !== null && !pred()) throw new Error(`child exited (${this.proc.exitCode}) before ${what}; stdout: ${this.lines.join(' | ')}; stderr: ${this.#stderr}`);
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}; stdout: ${this.lines.join(' | ')}; stderr: ${this.#stderr}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 100);
        this.#waiters.push(() => (clearTimeout(t), r()));
      });
    }
  }

  /** The wall clock the child reported at start. */
  clock(): number {
    return Date.parse(this.said('CLOCK')[0]![1]!);
  }

  kill(): Promise<unknown> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
    return this.exited;
  }
}

describe('clock jumps (libfaketime): no mail failed unattempted, none held by a clock that went back', function () {
  this.timeout(90_000);
  let dataDir: string;
  const children: Child[] = [];
  const closers: (() => Promise<void>)[] = [];
  const ids = (p: string, n: number) => Array.from({ length: n }, (_, i) => `${p}-${process.pid}-${i}`);

  before(function () {
    if (!fs.existsSync(LIBFAKETIME)) {
      console.warn(`      skipped: ${LIBFAKETIME} missing (Debian package libfaketime)`);
      this.skip();
    }
  });

  beforeEach(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pbx-clock-'));
  });

  afterEach(async () => {
    for (const c of children.splice(0)) await c.kill();
    for (const c of closers.splice(0)) await c();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const spawnChild = (o: Partial<ClockChildOptions> & Pick<ClockChildOptions, 'port'>, env: NodeJS.ProcessEnv = {}) => {
    const c = new Child({ dataDir, tenant: T, queue: [], drain: true, retry: { initialDelayMs: 300, maxDelayMs: 1000, maxAgeMs: 600_000, authFailureDelayMs: 2000 }, ...o }, env);
    children.push(c);
    return c;
  };

  /** A first process, on the real clock, queues `events` against a dead server and is killed with them still queued. */
  async function queueAndKill(events: string[]): Promise<void> {
    const a = spawnChild({ port: await refusedPort(), queue: events, drain: false });
    await a.until(() => a.said('ACK').length === events.length && a.said('DEFERRED').length >= 1, 'every event queued, one attempt deferred');
    await a.kill();
  }

  it('+6 days (past maxAgeMs): a second process delivers every queued mail, none failed as MESSAGE_EXPIRED without an attempt', async () => {
    const events = ids('fwd', 5);
    await queueAndKill(events);
    const sink = await Sink.start();
    closers.push(() => sink.close());
    const b = spawnChild({ port: sink.port }, faketime('+6d'));
    await b.until(() => b.said('DRAINED').length === 1, 'the queue drained');
    expect(b.clock() - Date.now(), 'the child ran six days ahead').to.be.greaterThan(5 * DAY);
    expect(b.said('FAILED')).to.deep.equal([]);
    expect(b.said('DELIVERED').map((l) => l[1]).sort()).to.deep.equal([...events].sort());
    expect([...sink.received].sort()).to.deep.equal([...events].sort());
  });

  it('+6 days with the server still refusing: each mail gets one last attempt, then MESSAGE_EXPIRED', async () => {
    const events = ids('fwd-451', 3);
    await queueAndKill(events);
    const busy = await Sink.start(0, 451);
    closers.push(() => busy.close());
    const b = spawnChild({ port: busy.port }, faketime('+6d'));
    await b.until(() => b.said('DRAINED').length === 1, 'the queue drained');
    const failed = b.said('FAILED');
    expect(failed.map((l) => l[1]).sort()).to.deep.equal([...events].sort());
    for (const l of failed) expect(l.slice(3).join(' ')).to.match(/^MESSAGE_EXPIRED\b.*451/);
    // The last attempts: one session per message reached the server before it was given up.
    expect(busy.connections).to.equal(events.length);
    expect(b.said('DEFERRED')).to.deep.equal([]);
  });

  it('-1 day: a second process delivers queued mail promptly, not a day later', async () => {
    const events = ids('back', 5);
    await queueAndKill(events);
    const sink = await Sink.start();
    closers.push(() => sink.close());
    const b = spawnChild({ port: sink.port }, faketime('-1d'));
    await b.until(() => b.said('DRAINED').length === 1, 'the queue drained');
    expect(Date.now() - b.clock(), 'the child ran a day behind').to.be.greaterThan(DAY - 3_600_000);
    expect(b.said('DELIVERED').map((l) => l[1]).sort()).to.deep.equal([...events].sort());
    expect([...sink.received].sort()).to.deep.equal([...events].sort());
    expect(b.lines.some((l) => /^WARN queued mail was due implausibly far ahead/.test(l))).to.equal(true);
  });

  it('the clock goes back a day while a tenant is held: the hold and the retry still end on time (monotonic clock)', async () => {
    const file = path.join(dataDir, '..', `${path.basename(dataDir)}.faketime`);
    fs.writeFileSync(file, '+0\n');
    closers.push(async () => fs.rmSync(file, { force: true }));
    const port = await refusedPort();
    const events = ids('jump', 3);
    const c = spawnChild({ port, queue: events }, { LD_PRELOAD: LIBFAKETIME, FAKETIME_TIMESTAMP_FILE: file, FAKETIME_NO_CACHE: '1', FAKETIME_DONT_FAKE_MONOTONIC: '1' });
    // The server is down: the first probe fails, the tenant is held, its mail deferred.
    await c.until(() => c.said('ACK').length === events.length && c.said('DEFERRED').length >= 1, 'a deferral');
    fs.writeFileSync(file, '-1d\n');
    const sink = await Sink.start(port);
    closers.push(() => sink.close());
    await c.until(() => c.said('DRAINED').length === 1, 'the queue drained');
    expect(c.said('DELIVERED').map((l) => l[1]).sort()).to.deep.equal([...events].sort());
    expect([...sink.received].sort()).to.deep.equal([...events].sort());
    // The clock really went back in the running process: the deferral's stored time was a day ahead of it.
    expect(c.lines.some((l) => /^WARN queued mail was due implausibly far ahead/.test(l))).to.equal(true);
  });
});
