import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { expect } from 'chai';
import { activate } from '../../src';
import { waitFor } from '../helpers/wait';
import { FakeHost } from '../helpers/fake-host';
import { missed, tenantConfig } from '../helpers/events';
import { refusedPort } from '../helpers/fault-servers';
import { Harness } from '../helpers/harness';
import { expectHostRefusesToStart } from '../helpers/host-process';
import { testCa } from '../helpers/smtp';

const T = 'a.example.com';

async function rejection(p: Promise<unknown>): Promise<{ code?: string; message: string }> {
  try {
    await p;
  } catch (e) {
    return e as { code?: string; message: string };
  }
  throw new Error('expected a rejection');
}

/** A real spool of `n` queued mails, written by the plugin and closed (so everything is in spool.db itself). */
async function realSpool(h: Harness, n: number): Promise<{ dataDir: string; config: unknown; ids: string[] }> {
  const dataDir = path.join(h.tmpdir('pbx-corrupt-'), 'data');
  const config = tenantConfig(testCa().cert, { [T]: { port: await refusedPort() } }, { delivery: { retry: { initialDelayMs: 3_600_000, maxDelayMs: 3_600_000, maxAgeMs: 86_400_000 }, shutdownTimeoutMs: 500 } });
  const host = new FakeHost(config, dataDir);
  const plugin = await activate(host.context());
  const events = Array.from({ length: n }, () => missed(T, {}, { caller: { number: '+15550199', name: 'x'.repeat(200) } }));
  await Promise.all(events.map((e) => host.send(e)));
  await plugin.deactivate();
  expect(fs.existsSync(path.join(dataDir, 'spool.db-wal'))).to.equal(false); // checkpointed into spool.db
  return { dataDir, config, ids: events.map((e) => e.id) };
}

/** Page numbers (1-based) of a b-tree in the database, read before damaging it. */
function pagesOf(file: string, name: string): { pageSize: number; pages: number[]; total: number } {
  const db = new Database(file, { readonly: true });
  try {
    return { pageSize: db.pragma('page_size', { simple: true }) as number, total: db.pragma('page_count', { simple: true }) as number, pages: (db.prepare('SELECT pageno FROM dbstat WHERE name = ? ORDER BY pageno').pluck().all(name) as number[]) };
  } finally {
    db.close();
  }
}

/** Overwrites whole pages with a fixed non-b-tree pattern, as a bad sector or a torn copy would. */
function damage(file: string, pageSize: number, pages: number[]): void {
  const fd = fs.openSync(file, 'r+');
  try {
    for (const p of pages) fs.writeSync(fd, Buffer.alloc(pageSize, 0xa5), 0, pageSize, (p - 1) * pageSize);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

// SQLite only: damages pages of spool.db itself; a PostgreSQL spool's storage is the database server's (its losses: test/spool/pg-spool.test.ts).
describe('spool: a corrupt spool.db is refused up front with SPOOL_CORRUPT', () => {
  const h = new Harness();
  afterEach(() => h.dispose());

  it('a damaged page in the middle of spool.db: activate() rejects with SPOOL_CORRUPT saying what to do; moving spool.db aside starts clean', async function () {
    this.timeout(30_000);
    const { dataDir, config } = await realSpool(h, 300);
    const file = path.join(dataDir, 'spool.db');
    const { pageSize, total } = pagesOf(file, 'messages');
    expect(total).to.be.greaterThan(20);
    damage(file, pageSize, [Math.floor(total / 2)]);

    const host = new FakeHost(config, dataDir);
    const err = await rejection(activate(host.context()));
    expect(err.code).to.equal('SPOOL_CORRUPT');
    expect(err.message).to.contain(file);
    expect(err.message).to.match(/restore dataDir from a backup or move spool\.db aside/);
    expect(host.handlers.size).to.equal(0); // refused before subscribing

    // The operator's recovery: spool.db moved aside; the refused start released the lock.
    fs.renameSync(file, `${file}.corrupt`);
    const plugin = await activate(host.context());
    try {
      expect((await plugin.status()).counts).to.deep.equal({ queued: 0, delivered: 0, failed: 0 });
    } finally {
      await plugin.deactivate();
    }
  });

  it('the reference host exits non-zero with SPOOL_CORRUPT before its ready line', async function () {
    this.timeout(30_000);
    const { dataDir, config } = await realSpool(h, 300);
    const file = path.join(dataDir, 'spool.db');
    const { pageSize, total } = pagesOf(file, 'messages');
    damage(file, pageSize, [Math.floor(total / 2)]);
    const err = await expectHostRefusesToStart(h, config, dataDir, path.join(path.dirname(dataDir), 'config.json'));
    expect(err).to.contain('SPOOL_CORRUPT');
  });

  it('damage found after activation never crashes the process: the handler rejects with SPOOL_CORRUPT, lookups throw it coded', async function () {
    this.timeout(30_000);
    const { dataDir, config, ids } = await realSpool(h, 300);
    const file = path.join(dataDir, 'spool.db');
    const host = new FakeHost(config, dataDir);
    const plugin = await activate(host.context());
    h.defer(() => plugin.deactivate());
    // The (tenant, event id) index: read by the intake's duplicate check, by nothing at start-up.
    const { pageSize, pages } = pagesOf(file, 'sqlite_autoindex_messages_1');
    expect(pages.length).to.be.greaterThan(1);
    damage(file, pageSize, pages);

    const err = await rejection(host.send(missed(T)));
    expect(err.code).to.equal('SPOOL_CORRUPT');
    expect(await rejection(plugin.lookup(ids[150]!, T))).to.have.property('code', 'SPOOL_CORRUPT');
    // Still a working instance: it stops cleanly.
    await plugin.deactivate();
  });

  it('damage met by the start-up work after activate() resolved (loading the queue, re-basing due times) is logged with SPOOL_CORRUPT, never thrown into the event loop', async function () {
    this.timeout(30_000);
    const { dataDir, config } = await realSpool(h, 300);
    const file = path.join(dataDir, 'spool.db');
    const { pageSize, pages } = pagesOf(file, 'messages_due');
    expect(pages.length).to.be.greaterThan(1);
    const host = new FakeHost(config, dataDir);
    const plugin = await activate(host.context());
    h.defer(() => plugin.deactivate());
    // activate() resolved after its integrity check, before delivery starts (that is deferred to the next turn).
    damage(file, pageSize, pages);
    const corrupt = () => host.logs.filter((l) => l.level === 'error' && l.fields?.code === 'SPOOL_CORRUPT').map((l) => l.msg);
    const expected = ['re-basing due times failed', 'spool error (load the queue); retried with backoff', 'spool error (re-base due times); retried with backoff'];
    await waitFor(() => expected.every((m) => corrupt().includes(m)), { what: 'the start-up work to log the damage', timeoutMs: 10_000, detail: () => host.logs });
    expect([...new Set(corrupt())].sort()).to.deep.equal(expected);
    // Every storage error was recognised as damage, none passed off as a plain failure.
    expect(host.logs.filter((l) => l.level === 'error' && l.fields?.code === 'SPOOL_FAILURE')).to.deep.equal([]);
  });
});
