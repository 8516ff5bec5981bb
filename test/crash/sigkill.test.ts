import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import type { SMTPServerDataStream } from 'smtp-server';
import type { ChildOptions } from '../helpers/crash-child';
import { TestSmtp, testCa } from '../helpers/smtp';

const T = 'crash.example.com';
const CHILD = path.join(__dirname, '../helpers/crash-child.ts');

/** The parent's SMTP server: records every Message-ID whose DATA arrived, counts open sessions, can hold its replies to RCPT TO or to DATA. */
class Recorder {
  readonly received: string[] = [];
  open = 0;
  /** Messages whose DATA arrived and whose reply is being withheld. */
  held = 0;
  /** Message-IDs of the messages whose reply was withheld. */
  readonly heldIds: string[] = [];
  hold = false;
  /** Sessions whose RCPT TO is being answered with silence: open, mid-transaction, before DATA. */
  heldRcpt = 0;
  /** Once this many messages arrived, RCPT TO is answered with silence (undefined: never). */
  holdRcptAfter: number | undefined;
  #waiters: (() => void)[] = [];
  server!: TestSmtp;

  async start(): Promise<this> {
    this.server = await TestSmtp.start({
      ca: testCa(),
      mode: 'none',
      extra: {
        disableReverseLookup: true,
        onConnect: (_s, cb) => {
          this.open++;
          cb();
        },
        onClose: () => {
          this.open--;
          this.#wake();
        },
        onRcptTo: (_addr, _s, cb) => {
          if (this.holdRcptAfter === undefined || this.received.length < this.holdRcptAfter) return cb();
          this.heldRcpt++;
          this.#wake();
        },
        onData: (stream: SMTPServerDataStream, _s, cb) => {
          const chunks: Buffer[] = [];
          stream.on('data', (c: Buffer) => chunks.push(c));
          stream.on('end', () => {
            const raw = Buffer.concat(chunks).toString('latin1');
            const id = /^Message-ID:\s*(<[^>]+>)/im.exec(raw)?.[1] ?? '?';
            this.received.push(id);
            if (this.hold) {
              this.held++;
              this.heldIds.push(id);
            }
            else cb();
            this.#wake();
          });
        },
      },
    });
    return this;
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  async until(pred: () => boolean, what: string, ms = 20_000): Promise<void> {
    const end = Date.now() + ms;
    while (!pred()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 25);
        this.#waiters.push(() => (clearTimeout(t), r()));
      });
    }
  }

  close(): Promise<void> {
    return this.server.close();
  }
}

/** One crash-child process and what it printed. */
class Child {
  readonly acked: string[] = [];
  readonly delivered = new Set<string>();
  ready = false;
  drained = false;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly proc: ChildProcess;
  #stderr = '';

  constructor(opts: ChildOptions) {
    this.proc = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', CHILD], {
      cwd: path.join(__dirname, '../..'),
      env: { ...process.env, CRASH_OPTS: JSON.stringify(opts) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let buf = '';
    this.proc.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const [word, arg] = buf.slice(0, nl).split(' ');
        buf = buf.slice(nl + 1);
        if (word === 'READY') this.ready = true;
        else if (word === 'ACK') this.acked.push(arg!);
        else if (word === 'DELIVERED') this.delivered.add(arg!);
        else if (word === 'DRAINED') this.drained = true;
      }
    });
    this.proc.stderr!.on('data', (d: Buffer) => (this.#stderr += d.toString()));
    this.exited = new Promise((r) => this.proc.once('exit', (code, signal) => r({ code, signal })));
  }

  kill(): Promise<unknown> {
    this.proc.kill('SIGKILL');
    return this.exited;
  }

  get stderr(): string {
    return this.#stderr;
  }
}

interface Outcome {
  acked: number;
  openAtKill: number;
  duplicates: number;
}

describe('crash safety: SIGKILL at any point loses nothing acknowledged', function () {
  this.timeout(60_000);
  let recorder: Recorder;
  let dataDir: string;
  const children: Child[] = [];
  const figures: string[] = [];

  beforeEach(async () => {
    recorder = await new Recorder().start();
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pbx-crash-'));
  });

  afterEach(async () => {
    for (const c of children.splice(0)) if (c.proc.exitCode === null && c.proc.signalCode === null) await c.kill();
    await recorder.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  after(() => {
    if (figures.length) console.log(figures.map((f) => `      ${f}`).join('\n'));
  });

  const child = (over: Partial<ChildOptions>): Child => {
    const c = new Child({ dataDir, port: recorder.server.port, ca: testCa().cert, tenant: T, prefix: 'ev', count: 0, parallel: 8, drain: false, ...over });
    children.push(c);
    return c;
  };

  /** Kills `first` as `killWhen` says, restarts on the same dataDir and checks that every acknowledged event arrived. */
  async function crashAndRecover(first: Child, killWhen: () => Promise<void>, resend: Partial<ChildOptions>): Promise<Outcome> {
    await killWhen();
    const openBeforeKill = recorder.open;
    await first.kill();
    // Sessions may still open between that reading and the SIGKILL landing; those the server holds
    // are counted by it (held DATA replies, held RCPT TO), and each may be resent once.
    const openAtKill = Math.max(openBeforeKill, recorder.held + recorder.heldRcpt);
    recorder.hold = false;
    recorder.holdRcptAfter = undefined;
    const acked = [...first.acked];
    expect(acked.length, 'events acknowledged before the kill').to.be.greaterThan(0);

    const second = child({ drain: true, ...resend });
    const exit = await second.exited;
    expect(exit, `the restarted child drains and exits on its own; stderr: ${second.stderr}`).to.deep.equal({ code: 0, signal: null });
    expect(second.drained).to.equal(true);

    const db = new Database(path.join(dataDir, 'spool.db'), { readonly: true });
    try {
      expect(db.pragma('integrity_check', { simple: true })).to.equal('ok');
      const rows = db.prepare('SELECT event_id, state, message_id FROM messages').all() as { event_id: string; state: string; message_id: string }[];
      const byEvent = new Map(rows.map((r) => [r.event_id, r]));
      for (const id of acked) {
        const r = byEvent.get(id);
        expect(r, `acknowledged ${id} is in the spool`).to.not.equal(undefined);
        expect(r!.state, `acknowledged ${id}`).to.equal('delivered');
        expect(recorder.received, `acknowledged ${id} reached the server`).to.include(r!.message_id);
      }
      for (const r of rows) expect(r.state).to.equal('delivered');
    } finally {
      db.close();
    }
    const duplicates = recorder.received.length - new Set(recorder.received).size;
    expect(duplicates, `duplicates (at most the ${openAtKill} sessions open at the kill)`).to.be.at.most(openAtKill);
    return { acked: acked.length, openAtKill, duplicates };
  }

  it('while accepting: every acknowledged event is delivered after a restart; the host re-sending all of them adds no duplicate', async () => {
    const first = child({ count: 120, paceMs: 30 });
    const out = await crashAndRecover(first, () => recorder.until(() => first.acked.length >= 25, '25 acknowledgements'), { count: 120 });
    expect(out.acked, 'the kill landed while events were still being accepted').to.be.lessThan(120);
    expect(new Set(recorder.received).size, 'each of the 120 events (re-sent by the host) mailed').to.equal(120);
    figures.push(`kill while accepting: ${out.acked}/120 acknowledged at the kill, ${out.openAtKill} sessions open, ${out.duplicates} duplicates`);
  });

  it('while sending: nothing acknowledged is lost, duplicates at most the sessions in flight', async () => {
    const first = child({ count: 60 });
    let receivedAtKill = 0;
    let heldAtKill = 0;
    const out = await crashAndRecover(
      first,
      async () => {
        // After 20 messages the server leaves RCPT TO unanswered: the sessions it holds are open, mid-transaction, at the kill.
        recorder.holdRcptAfter = 20;
        await recorder.until(() => first.acked.length === 60 && recorder.heldRcpt >= 3, 'all 60 acknowledged and three sessions waiting for their RCPT TO reply');
        receivedAtKill = recorder.received.length;
        heldAtKill = recorder.heldRcpt;
      },
      {},
    );
    expect(heldAtKill, 'sessions mid-transaction when the kill landed').to.be.greaterThan(2);
    expect(out.openAtKill, 'sessions open at the kill').to.be.at.least(heldAtKill);
    expect(receivedAtKill, 'messages the server had when the kill landed').to.be.lessThan(60);
    expect(out.acked).to.equal(60);
    expect(new Set(recorder.received).size).to.equal(60);
    figures.push(`kill while sending: ${receivedAtKill}/60 at the server at the kill, ${heldAtKill} sessions mid-transaction, ${out.openAtKill} open, ${out.duplicates} duplicates`);
  });

  it('between DATA and the reply: the withheld messages are resent (duplicates, same Message-ID), nothing is lost', async () => {
    const first = child({ count: 40 });
    await recorder.until(() => recorder.received.length >= 10 && first.acked.length === 40, '10 messages received');
    recorder.hold = true;
    const out = await crashAndRecover(first, () => recorder.until(() => recorder.held >= 3, 'three DATA transactions awaiting their reply'), {});
    expect(new Set(recorder.received).size).to.equal(40);
    // The withheld ones were never confirmed to the plugin: it must have sent each of them again, once.
    expect(recorder.heldIds).to.have.length(recorder.held);
    for (const id of recorder.heldIds) expect(recorder.received.filter((r) => r === id), `withheld ${id}`).to.have.length(2);
    expect(out.duplicates).to.be.at.least(recorder.held);
    figures.push(`kill between DATA and reply: ${recorder.held} replies withheld, ${out.openAtKill} sessions open, ${out.duplicates} duplicates`);
  });
});
