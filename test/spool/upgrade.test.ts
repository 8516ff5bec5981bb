import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { expect } from 'chai';
import { SCHEMA_VERSION } from '../../src/spool';
import { FakeHost } from '../helpers/fake-host';
import { Harness } from '../helpers/harness';
import { testCa } from '../helpers/smtp';

const FIXTURE = path.join(__dirname, '../fixtures/spool-v0');
const A = 'a.example.com';
const B = 'b.example.com';

// SQLite only: upgrades the spool.db fixture of SQLite layout 0; the PostgreSQL schema has its own versions (test/spool/pg-spool.test.ts).
describe('spool: a spool written by the first layout (test/fixtures/spool-v0) upgrades and delivers', () => {
  const h = new Harness();
  afterEach(() => h.dispose());

  it('migrates to the current user_version, then delivers its three queued mails with both attachments, each through its own tenant; the migrated key is (tenant, id)', async function () {
    this.timeout(60_000);
    const dataDir = path.join(h.tmpdir('pbx-upgrade-'), 'data');
    fs.cpSync(FIXTURE, dataDir, { recursive: true });
    const before = new Database(path.join(dataDir, 'spool.db'), { readonly: true });
    const v0 = { version: before.pragma('user_version', { simple: true }), rows: before.prepare("SELECT COUNT(*) FROM messages WHERE state = 'queued'").pluck().get(), abs: before.prepare("SELECT COUNT(*) FROM messages WHERE files_dir LIKE '/%'").pluck().get() };
    before.close();
    expect(v0).to.deep.equal({ version: 0, rows: 3, abs: 2 }); // the fixture is what it claims to be

    const ca = testCa();
    const a = await h.smtp({ ca });
    const b = await h.smtp({ ca });
    const tenant = (id: string, port: number) => ({ from: `PBX <pbx@${id}>`, smtp: { host: '127.0.0.1', port, security: 'starttls', tls: { ca: ca.cert, servername: 'localhost' }, connectionTimeoutMs: 2000, greetingTimeoutMs: 2000, socketTimeoutMs: 3000 } });
    // maxAgeMs far beyond the fixture's age, whenever this runs.
    const config = { delivery: { retry: { initialDelayMs: 200, maxDelayMs: 1000, maxAgeMs: 100 * 365 * 86_400_000 } }, defaults: { attachments: { audioFormat: 'original' } }, tenants: { [A]: tenant(A, a.port), [B]: tenant(B, b.port) } }; // This test is about the spooled copy itself: conversion to MP3/PDF is off (tested in test/media/).
    const host = new FakeHost(config, dataDir);
    const { activate } = await import('../../src');
    const plugin = await activate(host.context());
    h.defer(() => plugin.deactivate());
    expect(host.logs.filter((l) => /removed attachment copies/.test(l.msg))).to.deep.equal([]);
    expect(host.logs.find((l) => l.msg === 'spool upgraded to the current layout')?.fields).to.deep.equal({ from: 0, to: SCHEMA_VERSION });

    const ids = ['fixture-vm-1', 'fixture-mc-1', 'fixture-fax-1'];
    await host.until((em) => ids.every((id) => em.some((x) => x.type === 'email.delivered' && x.payload.eventId === id)));
    expect(host.of('email.failed')).to.deep.equal([]);
    const byId = (s: typeof a) => s.mails.map((m) => String(m.parsed.headers.get('x-pbx-event-id'))).sort();
    expect(byId(a)).to.deep.equal(['fixture-mc-1', 'fixture-vm-1']);
    expect(byId(b)).to.deep.equal(['fixture-fax-1']);
    const vm = a.mails.find((m) => m.parsed.headers.get('x-pbx-event-id') === 'fixture-vm-1')!;
    const fx = b.mails.find((m) => m.parsed.headers.get('x-pbx-event-id') === 'fixture-fax-1')!;
    expect(vm.parsed.attachments.map((x) => [x.contentType, x.content.length])).to.deep.equal([['audio/wav', 16044]]);
    expect(fx.parsed.attachments.map((x) => [x.contentType, x.content.length])).to.deep.equal([['application/pdf', 3016]]);
    expect(Buffer.compare(vm.parsed.attachments[0]!.content, fs.readFileSync(path.join(FIXTURE, 'files', fs.readdirSync(path.join(FIXTURE, 'files')).find((d) => fs.existsSync(path.join(FIXTURE, 'files', d, 'recording')))!, 'recording')))).to.equal(0);
    // The attempts made before the upgrade are carried over.
    expect(host.of('email.delivered', 'fixture-vm-1')[0]!.payload.attempts).to.be.greaterThan(1);

    // The migrated key is (tenant, id): an old id from the other tenant is a new event, from its own tenant a duplicate.
    const { missed } = await import('../helpers/events');
    await host.send(missed(B, { id: 'fixture-vm-1' }));
    await host.send(missed(A, { id: 'fixture-mc-1' }));
    await host.until((em) => em.some((x) => x.type === 'email.delivered' && x.payload.eventId === 'fixture-vm-1' && x.payload.tenant === B));
    const marker = missed(A);
    await host.send(marker);
    await host.until((em) => em.some((x) => x.type === 'email.delivered' && x.payload.eventId === marker.id));
    expect(byId(a)).to.deep.equal(['fixture-mc-1', 'fixture-vm-1', marker.id].sort());
    expect(byId(b)).to.deep.equal(['fixture-fax-1', 'fixture-vm-1']);

    await plugin.deactivate();
    const after = new Database(path.join(dataDir, 'spool.db'), { readonly: true });
    try {
      expect(after.pragma('user_version', { simple: true })).to.equal(SCHEMA_VERSION);
      expect(after.prepare("SELECT COUNT(*) FROM messages WHERE files_dir LIKE '/%' OR attachments LIKE '%\"path\":\"/%'").pluck().get()).to.equal(0);
    } finally {
      after.close();
    }
  });

  it('a spool from a newer version (a higher user_version) is refused with SPOOL_FAILURE, not misread, and left as it was', async () => {
    const dataDir = h.tmpdir('pbx-newer-');
    const { activate } = await import('../../src');
    const host = new FakeHost({ tenants: {} }, dataDir);
    await (await activate(host.context())).deactivate();
    const db = new Database(path.join(dataDir, 'spool.db'));
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    const err = await activate(host.context()).then(
      (p) => (void p.deactivate(), undefined),
      (e: { code?: string; message: string }) => e,
    );
    expect(err?.code).to.equal('SPOOL_FAILURE');
    expect(err?.message).to.contain(`spool layout ${SCHEMA_VERSION + 1}`);
    const after = new Database(path.join(dataDir, 'spool.db'), { readonly: true });
    expect(after.pragma('user_version', { simple: true })).to.equal(SCHEMA_VERSION + 1);
    after.close();
  });
});
