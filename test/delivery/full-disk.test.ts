import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { SMTPServerDataStream } from 'smtp-server';
import { activate, type EmailNotifyPlugin } from '../../src';
import { tenantConfig, voicemail } from '../helpers/events';
import { FakeHost } from '../helpers/fake-host';
import { TestSmtp, testCa } from '../helpers/smtp';

/** A real SMTP server that records each message's DATA and, while `hold` is set, withholds its reply. */
class HoldingServer {
  readonly received: string[] = [];
  readonly #held: (() => void)[] = [];
  hold = true;
  server!: TestSmtp;

  async start(): Promise<this> {
    this.server = await TestSmtp.start({
      ca: testCa(),
      mode: 'none',
      extra: {
        disableReverseLookup: true,
        onData: (stream: SMTPServerDataStream, _s, cb) => {
          const chunks: Buffer[] = [];
          stream.on('data', (c: Buffer) => chunks.push(c));
          stream.on('end', () => {
            this.received.push(/^X-PBX-Event-Id:\s*(\S+)/im.exec(Buffer.concat(chunks).toString('latin1'))?.[1] ?? '?');
            if (this.hold) this.#held.push(() => cb());
            else cb();
          });
        },
      },
    });
    return this;
  }

  get held(): number {
    return this.#held.length;
  }

  release(): void {
    this.hold = false;
    for (const r of this.#held.splice(0)) r();
  }
}

/** Waits for `pred` with a deadline, checking every 25 ms. */
async function until(pred: () => boolean, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Writes `file` until the file system is full; returns the bytes written. */
function fill(file: string): number {
  const fd = fs.openSync(file, 'w');
  let total = 0;
  try {
    for (const size of [1 << 20, 4096, 512, 1]) {
      const buf = Buffer.alloc(size, 0x5a);
      for (;;) {
        try {
          total += fs.writeSync(fd, buf);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw e;
        }
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  return total;
}

const TENANTS = ['a.example.com', 'b.example.com', 'c.example.com'];

// SQLite only: a full disk under spool.db; a PostgreSQL spool that cannot write is covered by test/spool/pg-spool.test.ts (losing the database).
describe('delivery on a full disk: an outcome that cannot be written never causes a resend', function () {
  this.timeout(60_000);

  it('3 mails delivered while the disk is full: exactly 3 arrive, the lanes wait, the outcomes are written once space is back', async function () {
    if (process.getuid?.() !== 0) {
      console.warn('      skipped: mounting a tmpfs (a real full disk) needs root');
      this.skip();
    }
    const mnt = fs.mkdtempSync(path.join(os.tmpdir(), 'pbx-fulldisk-'));
    const cleanup: (() => unknown)[] = [];
    let plugin: EmailNotifyPlugin | undefined;
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m,mode=0700', 'tmpfs', mnt]);
      cleanup.push(() => execFileSync('umount', ['-l', mnt]));
      const smtp = await new HoldingServer().start();
      cleanup.unshift(() => smtp.server.close());
      const servers = Object.fromEntries(TENANTS.map((t) => [t, { port: smtp.server.port, security: 'none' }]));
      const host = new FakeHost(tenantConfig(testCa().cert, servers, { delivery: { retry: { initialDelayMs: 200, maxDelayMs: 1000, maxAgeMs: 600_000 }, messageTimeoutMs: 20_000, shutdownTimeoutMs: 500 } }), path.join(mnt, 'data'));
      for (const t of TENANTS) (host.config as any).tenants[t].smtp.socketTimeoutMs = 20_000;
      plugin = await activate(host.context());
      const events = TENANTS.map((t) => voicemail(t));
      for (const e of events) await host.send(e);

      // Every mail is on the wire, its DATA in, the server's reply withheld: now the disk fills up.
      await until(() => smtp.held === events.length, 'all DATA received');
      const filler = path.join(mnt, 'filler');
      expect(fill(filler)).to.be.greaterThan(0);
      expect(() => fs.writeFileSync(path.join(mnt, 'probe'), 'x'), 'the disk is full').to.throw().with.property('code', 'ENOSPC');
      smtp.release();

      // The servers accepted all three; recording that fails. Wait for the third retry of the write (or a resend).
      const retries = () => host.logs.filter((l) => l.fields?.code === 'SPOOL_FAILURE' && /could not store delivery outcomes/.test(l.msg));
      await until(() => retries().some((l) => (l.fields!.retry as number) >= 3) || smtp.received.length > events.length, 'three write retries');
      expect(smtp.received, 'mails received while the disk was full').to.have.length(events.length);
      expect(new Set(smtp.received)).to.deep.equal(new Set(events.map((e) => e.id)));
      // The disk really was full: SQLite said so.
      for (const l of retries()) expect(l.fields!.error).to.be.oneOf(['SQLITE_FULL', 'ENOSPC']);
      // One log line a retry, the retries backing off: no hot loop, and no new session was opened.
      expect(retries().map((l) => l.fields!.retry)).to.deep.equal(retries().map((_l, i) => i + 1));
      expect(smtp.server.connections).to.equal(events.length);
      expect(host.of('email.delivered')).to.have.length(0);
      expect(host.logs.filter((l) => /attempt crashed/.test(l.msg))).to.deep.equal([]);
      expect((await plugin.status()).tenants.filter((t) => t.held).map((t) => t.tenant).sort()).to.deep.equal(TENANTS);

      // Space is back: the outcomes are written and reported; nothing is sent again.
      fs.rmSync(filler);
      await host.until((em) => em.filter((e) => e.type === 'email.delivered').length === events.length, 20_000);
      for (const e of events) expect((await plugin.lookup(e.id))).to.deep.include({ state: 'delivered', attempts: 1, pending: [] });
      expect(host.logs.some((l) => /outcomes stored again/.test(l.msg))).to.equal(true);
      await plugin.deactivate();
      plugin = undefined;
      expect(smtp.received).to.have.length(events.length);
    } finally {
      await plugin?.deactivate();
      for (const c of cleanup) await c();
      fs.rmSync(mnt, { recursive: true, force: true });
    }
  });
});
