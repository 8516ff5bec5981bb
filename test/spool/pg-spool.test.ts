import { expect } from 'chai';
import { spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as pg from 'pg';
import { PgSpool, PG_SCHEMA_VERSION, type PgSpoolOptions } from '../../src/spool/pg';
import { CHUNK_BYTES } from '../../src/spool/pg/pg-files';
import { SqliteSpool, type AttemptOutcome, type NewRecord, type Spool, type StoredAttachment, type StoredAttempt } from '../../src/spool';
import { sharedPostgres, startPostgres, type TestPostgres } from '../helpers/postgres';
import { waitFor } from '../helpers/wait';

const SCHEMA = 'pbx_test';
const T = 'a.example.com';
const CHILD = path.join(__dirname, 'pg-claim.child.ts');

function rec(tenant: string, eventId: string, attachments: StoredAttachment[] = []): NewRecord {
  return {
    eventId,
    tenant,
    type: 'missed-call',
    event: { id: eventId, type: 'missed-call', tenant, data: {} } as unknown as NewRecord['event'],
    attachments,
    pending: ['user@example.com'],
    messageId: `<${eventId}@test>`,
  };
}

async function sql<R extends pg.QueryResultRow>(url: string, text: string, args: unknown[] = []): Promise<R[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<R>(text, args)).rows;
  } finally {
    await c.end();
  }
}

async function rejection(p: Promise<unknown>): Promise<{ code?: string; message: string; cause?: unknown }> {
  return p.then(
    () => expect.fail('expected a rejection'),
    (e: { code?: string; message: string }) => e,
  );
}

describe('spool: PgSpool, the PostgreSQL spool of a cluster', function () {
  this.timeout(60_000);
  let server: TestPostgres;
  let url: string;
  const open: PgSpool[] = [];
  const dirs: string[] = [];

  const tmp = () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'pg-spool-'));
    dirs.push(d);
    return d;
  };
  const node = async (owner: string, over: Partial<PgSpoolOptions> = {}) => {
    const s = await PgSpool.open({ connectionString: url, schema: SCHEMA, poolSize: 4, leaseMs: 10_000, dataDir: tmp(), owner, ...over });
    open.push(s);
    return s;
  };
  const healthy = (s: PgSpool, tenant = T) => s.reportHealth(tenant, { ok: true });
  const claimReq = (over: { limit?: number; perTenant?: number; tenant?: string } = {}) => ({ tenant: T, now: Date.now(), limit: 5, perTenant: 5, exclude: new Set<number>(), ...over });

  before(async () => {
    server = await sharedPostgres();
  });
  let database: string;
  beforeEach(async () => {
    url = await server.createDatabase();
    database = new URL(url).pathname.slice(1);
  });
  afterEach(async () => {
    for (const s of open.splice(0)) await s.close();
    for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
    await server.dropDatabase(database);
  });

  describe('accepts', () => {
    it('the same (tenant, event id) on two nodes is one message; a batch with it twice queues it once', async () => {
      const a = await node('A');
      const b = await node('B');
      expect(a.shared).to.equal(true);
      expect(await a.enqueue(rec(T, 'e1'))).to.equal('queued');
      expect(await b.enqueue(rec(T, 'e1'))).to.equal('duplicate');
      const both = await Promise.all([a.enqueue(rec(T, 'e2')), b.enqueue(rec(T, 'e2'))]);
      expect(both.sort()).to.deep.equal(['duplicate', 'queued']);
      // One event-loop turn, one batch: the second of the pair is the duplicate.
      expect(await Promise.all([a.enqueue(rec(T, 'e3')), a.enqueue(rec(T, 'e3')), a.enqueue(rec('b.example.com', 'e3'))])).to.deep.equal(['queued', 'duplicate', 'queued']);
      expect(await b.counts()).to.deep.equal({ queued: 4, delivered: 0, partial: 0, failed: 0, discarded: 0 });
      expect((await b.totals()).map((t) => [t.tenant, t.accepted])).to.deep.equal([
        [T, 3],
        ['b.example.com', 1],
      ]);
      const r = (await b.getByEventId(T, 'e1'))!;
      expect(r).to.include({ eventId: 'e1', tenant: T, state: 'queued', attempts: 0, messageId: '<e1@test>' });
      expect(r.pending).to.deep.equal(['user@example.com']);
    });

    it('wakes the other nodes with the tenant of an accept', async () => {
      const a = await node('A');
      const b = await node('B');
      const woken: string[] = [];
      b.onWake((t) => woken.push(t));
      await a.enqueue(rec(T, 'w1'));
      await waitFor(() => woken.includes(T), { what: 'a wake-up on B for the accept on A', timeoutMs: 5_000 });
    });
  });

  describe('claims', () => {
    it('a lease keeps another node off until it runs out: SIGKILLed owner, its mail taken over after leaseMs', async () => {
      const b = await node('B', { leaseMs: 1000 });
      await healthy(b);
      for (let i = 0; i < 3; i++) await b.enqueue(rec(T, `l${i}`));
      const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', CHILD], {
        env: { ...process.env, PG_CLAIM: JSON.stringify({ connectionString: url, schema: SCHEMA, leaseMs: 1000, owner: 'A', tenant: T, limit: 2, perTenant: 5, dataDir: tmp() }) },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      try {
        let out = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        await waitFor(() => /\n/.test(out), { what: 'the child node to claim', timeoutMs: 30_000, detail: () => out });
        expect(out).to.match(/^CLAIMED \d+,\d+\n$/);
        const leased = out.trim().split(' ')[1]!.split(',').map(Number);
        // Well past one leaseMs: A's heartbeat keeps its two; B gets only the third.
        await new Promise((r) => setTimeout(r, 1500));
        const first = await b.claim(claimReq());
        expect(first.seqs).to.have.length(1);
        expect(leased).to.not.include(first.seqs[0]);
        expect((await b.claim(claimReq())).seqs).to.deep.equal([]);
        child.kill('SIGKILL');
        const t0 = Date.now();
        let taken: number[] = [];
        await waitFor(async () => (taken = (await b.claim(claimReq())).seqs).length > 0, { what: "B to take over A's leases", timeoutMs: 5_000, intervalMs: 50 });
        expect(taken).to.deep.equal(leased);
        expect(Date.now() - t0).to.be.below(2_000);
      } finally {
        child.kill('SIGKILL');
      }
    });

    it('perTenant holds across the cluster: two nodes claiming 5 with perTenant 2 get exactly 2 between them', async () => {
      const a = await node('A');
      const b = await node('B');
      await healthy(a);
      for (let i = 0; i < 10; i++) await a.enqueue(rec(T, `p${i}`));
      const [ca, cb] = await Promise.all([a.claim(claimReq({ perTenant: 2 })), b.claim(claimReq({ perTenant: 2 }))]);
      const all = [...ca.seqs, ...cb.seqs];
      expect(all).to.have.length(2);
      expect(new Set(all).size).to.equal(2);
      const again = await b.claim(claimReq({ perTenant: 2 }));
      expect(again.seqs).to.deep.equal([]);
      expect(again.waitMs).to.be.within(50, 10_000);
      expect(again.hold).to.equal(undefined);
      // An outcome ends the lease: room for one more, oldest due first.
      const mine = ca.seqs.length > 0 ? a : b;
      const seq = (ca.seqs.length > 0 ? ca : cb).seqs[0]!;
      await mine.recordAttempts([{ seq, outcome: { state: 'delivered', pending: [], deliveredNow: ['user@example.com'], failedNow: [], attempts: 1, nextAttemptAt: Date.now() } }]);
      const next = await b.claim(claimReq({ perTenant: 2 }));
      expect(next.seqs).to.have.length(1);
      expect(all).to.not.include(next.seqs[0]);
      // Released claims are due again for anyone.
      await b.release(next.seqs);
      expect((await a.claim(claimReq({ perTenant: 2 }))).seqs).to.deep.equal(next.seqs);
    });

    it('three nodes racing for 20 rounds never hold more than perTenant leases of a tenant between them', async () => {
      const nodes = [await node('A'), await node('B'), await node('C')];
      await healthy(nodes[0]!);
      for (let i = 0; i < 30; i++) await nodes[0]!.enqueue(rec(T, `r${i}`));
      const held = nodes.map(() => [] as number[]);
      for (let round = 0; round < 20; round++) {
        const got = await Promise.all(nodes.map((n) => n.claim(claimReq({ perTenant: 3, limit: 2 }))));
        got.forEach((c, i) => held[i]!.push(...c.seqs));
        const all = held.flat();
        expect(all.length, `round ${round}`).to.be.at.most(3);
        if (round === 0) expect(all, 'the cap is reached, not just kept under').to.have.length(3);
        expect(new Set(all).size).to.equal(all.length);
        // Each round one node gives back what it holds.
        const k = round % 3;
        await nodes[k]!.release(held[k]!.splice(0));
      }
    });

    it('a lot retried after its COMMIT went through unacknowledged (the connection dropped) is written once', async () => {
      // A proxy that, once armed, swallows the server's answer to COMMIT and drops the connection.
      const target = new URL(url);
      let armed = false;
      const sockets = new Set<net.Socket>();
      const proxy = net.createServer((client) => {
        const upstream = net.connect(Number(target.port), target.hostname);
        sockets.add(client).add(upstream);
        client.on('data', (d) => upstream.write(d));
        upstream.on('data', (d) => {
          if (armed && d.includes('COMMIT\0')) {
            armed = false;
            client.destroy();
            upstream.destroy();
            return;
          }
          client.write(d);
        });
        client.on('error', () => upstream.destroy()).on('close', () => upstream.destroy());
        upstream.on('error', () => client.destroy()).on('close', () => client.destroy());
      });
      await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
      try {
        const via = new URL(url);
        via.port = String((proxy.address() as net.AddressInfo).port);
        const a = await node('A', { connectionString: via.toString() });
        await healthy(a);
        await a.enqueue(rec(T, 'twice'));
        const [seq] = (await a.claim(claimReq())).seqs;
        const lot = [{ seq: seq!, outcome: { state: 'delivered' as const, pending: [], deliveredNow: ['user@example.com'], failedNow: [], attempts: 1, nextAttemptAt: Date.now(), log: { attempt: 1, at: Date.now(), outcome: 'delivered' as const, recipients: [] } } }];
        armed = true;
        const lost = await rejection(a.recordAttempts(lot));
        expect(lost.code).to.equal('SPOOL_FAILURE');
        expect((await sql<{ state: string }>(url, `SELECT state FROM ${SCHEMA}.messages WHERE seq = $1`, [seq]))[0]!.state, 'the COMMIT went through').to.equal('delivered');
        await a.recordAttempts(lot);
        const r = (await a.get(seq!))!;
        expect(r.delivered).to.deep.equal(['user@example.com']);
        expect(await a.log(seq!)).to.have.length(2); // one attempt line, one outcome line
        expect((await a.totals()).find((t) => t.tenant === T)).to.include({ accepted: 1, delivered: 1 });
        // Written once, the claim is over: a later lot for the seq (an operator's script, say) is written as SqliteSpool would.
        await a.recordAttempts([{ seq: seq!, outcome: { ...lot[0]!.outcome, deliveredNow: [], attempts: 2 } }]);
        expect((await a.get(seq!))!.attempts).to.equal(2);
      } finally {
        for (const s of open.splice(0)) await s.close();
        for (const x of sockets) x.destroy();
        await new Promise((r) => proxy.close(r));
      }
    });

    it('never hands out an excluded seq, and returns claims oldest due first', async () => {
      const a = await node('A');
      await healthy(a);
      for (let i = 0; i < 4; i++) await a.enqueue(rec(T, `x${i}`));
      const seqs = (await a.list({ tenant: T, limit: 10 })).map((r) => r.seq).sort((x, y) => x - y);
      const got = await a.claim({ ...claimReq(), exclude: new Set([seqs[1]!]) });
      expect(got.seqs).to.deep.equal([seqs[0], seqs[2], seqs[3]]);
    });

    it('nextDue: a message leased by another node is due when its lease ends; own leases and excluded seqs do not count', async () => {
      const a = await node('A');
      const b = await node('B');
      await healthy(a);
      await a.enqueue(rec(T, 'n1'));
      const [seq] = (await a.claim(claimReq())).seqs;
      const dueForB = await b.nextDue(T, new Set());
      expect(dueForB).to.be.greaterThan(Date.now() + 5_000);
      expect(await a.nextDue(T, new Set())).to.equal(undefined);
      expect(await b.nextDue(T, new Set([seq!]))).to.equal(undefined);
    });
  });

  describe('the shared breaker', () => {
    it('a fresh tenant is probed by one session in the cluster; a failure holds it with its code, a success lifts it', async () => {
      const a = await node('A');
      const b = await node('B');
      for (let i = 0; i < 4; i++) await a.enqueue(rec(T, `b${i}`));
      const probe = await a.claim(claimReq());
      expect(probe.seqs).to.have.length(1);
      const other = await b.claim(claimReq());
      expect(other.seqs).to.deep.equal([]);
      expect(other.waitMs).to.be.within(50, 10_000);

      const asked: number[] = [];
      const fail = (holdMs: number) => ({ ok: false as const, code: 'SMTP_CONNECT', message: 'connect ECONNREFUSED', holdFor: (n: number) => (asked.push(n), holdMs) });
      await a.reportHealth(T, fail(60_000));
      await a.release(probe.seqs);
      const held = await b.claim(claimReq());
      expect(held.seqs).to.deep.equal([]);
      expect(held.hold).to.deep.equal({ code: 'SMTP_CONNECT', message: 'connect ECONNREFUSED' });
      expect(held.waitMs).to.be.within(55_000, 60_000);
      // A sibling session's failure during the hold is the same outage: not counted, the hold kept.
      await b.reportHealth(T, fail(1));
      expect(asked).to.deep.equal([1]);
      expect((await a.claim(claimReq())).hold?.code).to.equal('SMTP_CONNECT');

      await b.reportHealth(T, { ok: true });
      const open = await a.claim(claimReq({ perTenant: 3 }));
      expect(open.seqs).to.have.length(3);
      expect(open.hold).to.equal(undefined);
    });

    it('after a hold runs out, one probe again (half-open); the second failure counts as the second', async () => {
      const a = await node('A');
      await healthy(a);
      for (let i = 0; i < 3; i++) await a.enqueue(rec(T, `h${i}`));
      const asked: number[] = [];
      const fail = { ok: false as const, code: 'SMTP_TIMEOUT', message: 'greeting timeout', holdFor: (n: number) => (asked.push(n), 300) };
      await a.reportHealth(T, fail);
      expect((await a.claim(claimReq())).hold?.code).to.equal('SMTP_TIMEOUT');
      await new Promise((r) => setTimeout(r, 400));
      const probe = await a.claim(claimReq());
      expect(probe.seqs).to.have.length(1);
      expect((await a.claim(claimReq())).seqs).to.deep.equal([]);
      await a.reportHealth(T, fail);
      expect(asked).to.deep.equal([1, 2]);
    });
  });

  describe('schema', () => {
    it('two nodes opening a fresh database at once migrate it once', async () => {
      const [a, b] = await Promise.all([node('A'), node('B')]);
      expect(a.isOpen && b.isOpen).to.equal(true);
      expect(await sql(url, `SELECT key, value FROM ${SCHEMA}.meta`)).to.deep.equal([{ key: 'layout', value: String(PG_SCHEMA_VERSION) }]);
      const tables = (await sql<{ t: string }>(url, "SELECT table_name AS t FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1", [SCHEMA])).map((r) => r.t);
      expect(tables).to.deep.equal(['attachment_chunks', 'attachment_files', 'delivery_log', 'messages', 'meta', 'refusals', 'tenant_breakers', 'tenant_totals']);
    });

    it('refuses a schema written by a newer version, naming both layouts (SPOOL_FAILURE)', async () => {
      const a = await node('A');
      await a.close();
      await sql(url, `UPDATE ${SCHEMA}.meta SET value = '99' WHERE key = 'layout'`);
      const e = await rejection(node('B'));
      expect(e.code).to.equal('SPOOL_FAILURE');
      expect(e.message).to.contain('layout 99').and.contain(`up to ${PG_SCHEMA_VERSION}`);
      const bad = await rejection(node('C', { schema: 'Robert"; DROP TABLE x; --' }));
      expect(bad.code).to.equal('SPOOL_FAILURE');
      expect(bad.message).to.contain('must match');
    });
  });

  describe('attachments in the database', () => {
    it('a 5 MB copy streams in 256 KiB chunks and out on another node, byte for byte; remove deletes the stored copy only when no message names it', async () => {
      const a = await node('A');
      const b = await node('B');
      const srcDir = tmp();
      const src = path.join(srcDir, 'recording.wav');
      const bytes = crypto.randomBytes(5 * 1000 * 1000);
      fs.writeFileSync(src, bytes);
      const dir = await a.files.createDir('att-1');
      const h = await fs.promises.open(src, 'r');
      let copy: string;
      try {
        copy = await a.files.copyIn(h, dir, 'recording');
      } finally {
        await h.close();
      }
      expect(copy).to.equal(path.join(dir, 'recording'));
      const key = path.basename(dir);
      const [{ n }] = await sql<{ n: number }>(url, `SELECT COUNT(*)::int AS n FROM ${SCHEMA}.attachment_chunks WHERE files_dir = $1`, [key]);
      expect(n).to.equal(Math.ceil(bytes.length / CHUNK_BYTES));
      expect(await a.enqueue(rec(T, 'att-1', [{ path: copy, contentType: 'audio/wav', size: bytes.length, role: 'recording' }]))).to.equal('queued');

      const onB = (await b.getByEventId(T, 'att-1'))!;
      const local = onB.attachments[0]!.path;
      expect(local.startsWith(path.join(path.dirname(path.dirname(path.dirname(local))), 'files'))).to.equal(true);
      expect(local).to.not.equal(copy);
      expect(fs.existsSync(local)).to.equal(false);
      await b.files.materialise(onB.attachments);
      expect(crypto.createHash('sha256').update(fs.readFileSync(local)).digest('hex')).to.equal(crypto.createHash('sha256').update(bytes).digest('hex'));
      expect(fs.existsSync(`${local}.part`)).to.equal(false);

      // remove() after a delivery: this node's copy goes; the stored one stays with its message until purge.
      await b.files.remove(path.dirname(local));
      expect(fs.existsSync(local)).to.equal(false);
      const chunks = async (k: string) => (await sql<{ n: number }>(url, `SELECT COUNT(*)::int AS n FROM ${SCHEMA}.attachment_chunks WHERE files_dir = $1`, [k]))[0]!.n;
      expect(await chunks(key)).to.equal(n);
      // A copy no message names (an accept that failed) is deleted everywhere.
      const failedDir = await a.files.createDir('att-2');
      const h2 = await fs.promises.open(src, 'r');
      try {
        await a.files.copyIn(h2, failedDir, 'recording');
      } finally {
        await h2.close();
      }
      expect(await chunks(path.basename(failedDir))).to.equal(n);
      await a.files.remove(failedDir);
      expect(await chunks(path.basename(failedDir))).to.equal(0);
      // Gone everywhere: it stays missing (the courier sends without it and says so).
      await sql(url, `DELETE FROM ${SCHEMA}.attachment_chunks WHERE files_dir = $1`, [key]);
      await sql(url, `DELETE FROM ${SCHEMA}.attachment_files WHERE files_dir = $1`, [key]);
      const c = await node('C');
      const onC = (await c.getByEventId(T, 'att-1'))!;
      await c.files.materialise(onC.attachments);
      expect(fs.existsSync(onC.attachments[0]!.path)).to.equal(false);
    });

    it('sweepOrphans empties the local cache and deletes stored copies nobody names once over an hour old; purge deletes a message with its copies', async () => {
      const a = await node('A');
      const srcDir = tmp();
      fs.writeFileSync(path.join(srcDir, 'f'), 'fax');
      const copyIn = async (id: string) => {
        const dir = await a.files.createDir(id);
        const h = await fs.promises.open(path.join(srcDir, 'f'), 'r');
        try {
          return await a.files.copyIn(h, dir, 'document');
        } finally {
          await h.close();
        }
      };
      const owned = await copyIn('owned');
      await a.enqueue(rec(T, 'owned', [{ path: owned, contentType: 'application/pdf', size: 3, role: 'document' }]));
      const young = await copyIn('young');
      const old = await copyIn('old');
      await sql(url, `UPDATE ${SCHEMA}.attachment_files SET created_at = created_at - 7200000 WHERE files_dir = $1`, [path.basename(path.dirname(old))]);
      await a.files.materialise((await a.getByEventId(T, 'owned'))!.attachments);
      expect(await a.sweepOrphans()).to.equal(1); // `old`; the local cache is emptied but is no orphan
      expect(fs.readdirSync(a.files.root)).to.deep.equal([]);
      const left = (await sql<{ d: string }>(url, `SELECT DISTINCT files_dir AS d FROM ${SCHEMA}.attachment_chunks ORDER BY 1`)).map((r) => r.d);
      expect(left).to.have.members([path.basename(path.dirname(owned)), path.basename(path.dirname(young))]);

      const r = (await a.getByEventId(T, 'owned'))!;
      await a.recordAttempts([{ seq: r.seq, outcome: { state: 'delivered', pending: [], deliveredNow: ['user@example.com'], failedNow: [], attempts: 1, nextAttemptAt: Date.now() } }]);
      expect(await a.purge(Date.now() + 1, 0)).to.equal(1);
      expect(await a.get(r.seq)).to.equal(undefined);
      expect((await sql(url, `SELECT 1 FROM ${SCHEMA}.attachment_chunks WHERE files_dir = $1`, [path.basename(path.dirname(owned))])).length).to.equal(0);
    });
  });

  describe('the same results as SqliteSpool', () => {
    /** Epoch-ms times the spools take from their own clock become 'T'; those the script passes (small numbers) stay. */
    const norm = (v: unknown): unknown =>
      JSON.parse(JSON.stringify(v ?? null), (_k, x: unknown) => (typeof x === 'number' && x > 1e12 ? 'T' : x));
    const attempt = (n: number, outcome: StoredAttempt['outcome'], code?: string): StoredAttempt => ({
      attempt: n,
      at: 6000 + n,
      host: 'smtp.example.com',
      replyCode: outcome === 'delivered' ? 250 : 451,
      replyText: outcome === 'delivered' ? 'ok' : 'try later',
      outcome,
      ...(code !== undefined && { code }),
      recipients: [{ address: 'user@example.com', status: outcome === 'delivered' ? 'accepted' : 'rejected' }],
    });
    const out = (o: Partial<AttemptOutcome> & Pick<AttemptOutcome, 'state'>): AttemptOutcome => ({ pending: [], deliveredNow: [], failedNow: [], attempts: 1, nextAttemptAt: 7000, ...o });

    /** One script of operations; every answer is collected, normalised. */
    async function script(spool: Spool): Promise<unknown[]> {
      const seen: unknown[] = [];
      const see = (what: string, v: unknown) => seen.push([what, norm(v)]);
      const U = 'u.example.com';
      const r1 = { ...rec(T, 'e1'), pending: ['x@example.com', 'y@example.com'] };
      see('enqueue', await Promise.all([rec(T, 'e0'), r1, rec(T, 'e2'), rec(T, 'e3'), rec(U, 'e4'), rec(U, 'e5')].map((r) => spool.enqueue(r))));
      const seq = async (id: string) => (await spool.getByEventId(undefined, id))!.seq;
      const [s0, s1, s2, s3, s4] = [await seq('e0'), await seq('e1'), await seq('e2'), await seq('e3'), await seq('e4')];
      await spool.recordAttempts([
        { seq: s0!, outcome: out({ state: 'delivered', deliveredNow: ['user@example.com'], log: attempt(1, 'delivered') }) },
        { seq: s1!, outcome: out({ state: 'partial', deliveredNow: ['x@example.com'], failedNow: ['y@example.com'], lastError: 'y@example.com: 550 no such user', lastErrorCode: 'SMTP_PERMANENT', log: attempt(1, 'partial', 'SMTP_PERMANENT') }) },
        { seq: s2!, outcome: out({ state: 'queued', pending: ['user@example.com'], lastError: '451 try later', lastErrorCode: 'SMTP_TEMPORARY', log: attempt(1, 'deferred', 'SMTP_TEMPORARY') }) },
        { seq: s4!, outcome: out({ state: 'failed', failedNow: ['user@example.com'], lastError: 'connect refused', lastErrorCode: 'SMTP_CONNECT', log: attempt(1, 'failed', 'SMTP_CONNECT') }) },
      ]);
      for (let n = 2; n <= 4; n++) {
        await spool.recordAttempts([{ seq: s2!, outcome: out({ state: 'queued', pending: ['user@example.com'], attempts: n, nextAttemptAt: 7000 + n, lastError: '451 try later', lastErrorCode: 'SMTP_TEMPORARY', log: attempt(n, 'deferred', 'SMTP_TEMPORARY') }) }]);
      }
      see('revive partial', await spool.revive(s1!, 8000));
      see('revive queued', await spool.revive(s2!, 8100));
      see('revive delivered', await spool.revive(s0!, 8150));
      see('discard queued', await spool.discard(s3!, 8200, 'an operator gave up'));
      see('discard failed', await spool.discard(s4!, 8300, 'again'));
      see('discard delivered', await spool.discard(s0!, 8400, 'no'));
      for (let i = 0; i < 3; i++) await spool.refuse({ at: 9000 + i, ...(i !== 1 && { tenant: T }), eventId: `r${i}`, code: 'EVENT_INVALID', field: '/data/x', message: `refused ${i}` });
      see('refusals', await spool.refusals({ limit: 10 }));
      see('refusals of T', await spool.refusals({ tenant: T, limit: 10 }));
      await spool.reschedule(U, 7600);
      see('rebase', await spool.rebase(100, 7500));
      see('list', await spool.list({ limit: 100 }));
      see('list queued attempted of T', await spool.list({ tenant: T, states: ['queued'], attempted: true, limit: 10 }));
      see('list not attempted', await spool.list({ attempted: false, limit: 10 }));
      see('list seqs excluding', await spool.list({ seqs: [s0!, s1!, s2!], excludeSeqs: new Set([s1!]), limit: 1 }));
      see('list before', await spool.list({ before: 1, limit: 10 }));
      for (const s of [s0, s1, s2, s3, s4]) see(`log ${s}`, await spool.log(s!));
      see('totals', await spool.totals());
      see('depth', await spool.depth());
      see('counts', await spool.counts());
      see('stateStats', await spool.stateStats());
      see('settledFailedSince', await spool.settledFailedSince(T, 0));
      see('tenantsWithWork', await spool.tenantsWithWork());
      see('nextDue', await spool.nextDue(T, new Set()));
      see('nextDue excluding', await spool.nextDue(T, new Set([s1!])));
      see('get missing', await spool.get(9999));
      see('by event, any tenant', await spool.getByEventId(undefined, 'e5'));
      see('purge', await spool.purge(Date.now() + 10_000, 0));
      see('counts after purge', await spool.counts());
      see('purge failed', await spool.purge(Date.now() + 10_000, Date.now() + 10_000));
      see('after purge', [await spool.counts(), await spool.log(s1!), await spool.refusals({ limit: 10 })]);
      return seen;
    }

    it('one script of accepts, attempts, retries, discards, refusals, queries and purges answers alike on both stores', async () => {
      const limits = { maxAttemptsPerMessage: 2, maxRefusals: 2 };
      const lite = new SqliteSpool(tmp(), { limits });
      let expected: unknown[];
      try {
        expected = await script(lite as unknown as Spool);
      } finally {
        await lite.close();
      }
      const got = await script(await node('A', { limits }));
      for (let i = 0; i < expected.length; i++) expect(got[i], JSON.stringify((expected[i] as unknown[])[0])).to.deep.equal(expected[i]);
      expect(got).to.have.length(expected.length);
    });
  });

  describe('losing the database', () => {
    let own: TestPostgres | undefined;
    afterEach(async () => {
      for (const s of open.splice(0)) await s.close();
      await own?.stop();
      own = undefined;
    });

    it('terminated connections do not crash the process; LISTEN comes back and wakes every tenant with work; a stopped server is SPOOL_FAILURE', async () => {
      own = await startPostgres();
      url = await own.createDatabase();
      const a = await node('A');
      const woken: string[] = [];
      a.onWake((t) => woken.push(t));
      await a.enqueue(rec(T, 'd1'));
      // Its own accept's NOTIFY first; then nothing is sent, so a wake after the kill is the resync.
      await waitFor(() => woken.includes(T), { what: 'the wake-up of the accept' });
      woken.length = 0;
      expect(a.listening).to.equal(true);
      expect(await own.terminateBackends(new URL(url).pathname.slice(1))).to.be.greaterThan(0);
      await waitFor(() => woken.includes(T), { what: 'a wake-up after LISTEN reconnected', timeoutMs: 10_000 });
      expect(a.listening).to.equal(true);
      expect((await a.counts()).queued).to.equal(1);

      own.kill();
      const e = await rejection(a.enqueue(rec(T, 'd2')));
      expect(e.code).to.equal('SPOOL_FAILURE');
      expect(e.cause).to.not.equal(undefined);
      expect((await rejection(a.claim(claimReq()))).code).to.equal('SPOOL_FAILURE');
      expect((await rejection(a.get(1))).code).to.equal('SPOOL_FAILURE');
      await a.refuse({ at: Date.now(), code: 'EVENT_INVALID', message: 'best effort, never rejects' });
      const refused = await rejection(PgSpool.open({ connectionString: url, schema: SCHEMA, poolSize: 1, leaseMs: 1000, dataDir: tmp(), owner: 'B' }));
      expect(refused.code).to.equal('SPOOL_FAILURE');
      expect(refused.message).to.contain('ECONNREFUSED');
      await own.restart();
      await waitFor(async () => (await a.counts().catch(() => undefined))?.queued === 1, { what: 'the spool to answer again after a restart', timeoutMs: 20_000, intervalMs: 200 });
    });
  });
});
