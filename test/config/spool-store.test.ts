import { expect } from 'chai';
import { activate, PluginError } from '../../src';
import { resolveConfig, SchemaRegistry } from '../../src/config';
import { FakeHost } from '../helpers/fake-host';

const schemas = new SchemaRegistry();
const SECRET = 'pg-Zr81-LeakCanary-password';

function refused(config: unknown): PluginError {
  try {
    resolveConfig(config, schemas);
  } catch (e) {
    if (e instanceof PluginError) return e;
    throw e;
  }
  throw new Error('resolveConfig accepted an invalid configuration');
}
const paths = (e: PluginError) => (e.problems ?? []).map((p) => p.path);

describe('config: spool.store and spool.postgres (issue 13)', () => {
  it('defaults to the embedded sqlite store, with the postgres settings filled in but no connection string', () => {
    const c = resolveConfig({}, schemas);
    expect(c.spool.store).to.equal('sqlite');
    expect(c.spool.postgres).to.deep.equal({ schema: 'pbx_email_notify', poolSize: 10, leaseMs: 15000 });
    expect(c.spool.postgres.connectionString).to.equal(undefined);
    expect(Object.isFrozen(c.spool.postgres)).to.equal(true);
  });

  it('accepts the postgres store with a postgres:// or postgresql:// URL and keeps what is given', () => {
    for (const url of [
      `postgresql://pbx:${SECRET}@db.example.com:5432/pbx?sslmode=verify-full`,
      'postgres://db.example.com/pbx',
      'postgresql:///pbx?host=/var/run/postgresql',
      'postgresql://pbx@/pbx?host=/var/run/postgresql',
    ]) {
      const c = resolveConfig({ spool: { store: 'postgres', postgres: { connectionString: url, schema: 'mail_spool', poolSize: 3, leaseMs: 5000 } } }, schemas);
      expect(c.spool.store, url).to.equal('postgres');
      expect(c.spool.postgres, url).to.deep.equal({ connectionString: url, schema: 'mail_spool', poolSize: 3, leaseMs: 5000 });
    }
  });

  it('a connection string with the sqlite store is checked too, and otherwise ignored', () => {
    expect(resolveConfig({ spool: { postgres: { connectionString: 'postgres://h/db' } } }, schemas).spool.store).to.equal('sqlite');
    expect(paths(refused({ spool: { postgres: { connectionString: 'http://h/db' } } }))).to.deep.equal(['/spool/postgres/connectionString']);
  });

  it('refuses store postgres without spool.postgres.connectionString (CONFIG_INVALID, its path)', () => {
    for (const spool of [{ store: 'postgres' }, { store: 'postgres', postgres: {} }, { store: 'postgres', postgres: { schema: 'x' } }]) {
      const e = refused({ spool });
      expect(e.code, JSON.stringify(spool)).to.equal('CONFIG_INVALID');
      expect(paths(e), JSON.stringify(spool)).to.deep.equal(['/spool/postgres/connectionString']);
      expect(e.problems![0]!.message).to.contain('required');
      expect(e.message).to.contain('/spool/postgres/connectionString');
    }
  });

  it('refuses a connection string that is not a postgres URL, without quoting it', () => {
    for (const url of [
      `mysql://pbx:${SECRET}@db/pbx`,
      `pbx:${SECRET}@db/pbx`,
      `host=db user=pbx password=${SECRET}`,
      `postgresql://pbx:${SECRET}@[db/pbx`,
      `postgres://pbx:${SECRET}@db:notaport/pbx`,
      '',
    ]) {
      const e = refused({ spool: { store: 'postgres', postgres: { connectionString: url } } });
      expect(e.code, url).to.equal('CONFIG_INVALID');
      expect([...new Set(paths(e))], url).to.deep.equal(['/spool/postgres/connectionString']);
      expect(`${e.message}\n${JSON.stringify(e.problems)}\n${e.stack}`, url).to.not.contain(SECRET);
    }
  });

  it('refuses out-of-range and unknown postgres settings, each with its path', () => {
    const e = refused({
      spool: { store: 'mysql', postgres: { connectionString: 'postgres://h/db', schema: 'Has-Dash', poolSize: 0, leaseMs: 999, extra: 1 } },
    });
    expect(e.code).to.equal('CONFIG_INVALID');
    expect(paths(e).sort()).to.deep.equal(['/spool/postgres/extra', '/spool/postgres/leaseMs', '/spool/postgres/poolSize', '/spool/postgres/schema', '/spool/store']);
    const high = refused({ spool: { postgres: { poolSize: 101, leaseMs: 600001, schema: `a${'b'.repeat(63)}` } } });
    expect(paths(high).sort()).to.deep.equal(['/spool/postgres/leaseMs', '/spool/postgres/poolSize', '/spool/postgres/schema']);
    expect(resolveConfig({ spool: { postgres: { poolSize: 100, leaseMs: 600000, schema: `_${'b'.repeat(62)}` } } }, schemas).spool.postgres.poolSize).to.equal(100);
    expect(resolveConfig({ spool: { postgres: { poolSize: 1, leaseMs: 1000 } } }, schemas).spool.postgres.leaseMs).to.equal(1000);
  });

  it('activate() refuses the same way, and its log holds no password', async () => {
    const host = new FakeHost({ spool: { store: 'postgres', postgres: { connectionString: `mysql://pbx:${SECRET}@db/pbx` } } });
    try {
      const e = await activate(host.context()).then(
        async (p) => {
          await p.deactivate();
          throw new Error('activate() accepted an invalid configuration');
        },
        (x: unknown) => x as PluginError,
      );
      expect(e.code).to.equal('CONFIG_INVALID');
      expect(paths(e)).to.deep.equal(['/spool/postgres/connectionString']);
      expect(`${e.message}\n${JSON.stringify(e.problems)}\n${JSON.stringify(host.logs)}`).to.not.contain(SECRET);
    } finally {
      host.cleanup();
    }
  });

  it('a config change of the store is logged as applying at the next start, its password redacted', async () => {
    const host = new FakeHost({});
    const plugin = await activate(host.context());
    try {
      const url = `postgresql://pbx:${SECRET}@db.example.com/pbx?sslpassword=${SECRET}`;
      host.changeConfig({ spool: { store: 'postgres', postgres: { connectionString: url } } });
      const line = host.logs.find((l) => l.msg.startsWith('the spool store is opened at activation'));
      expect(line?.level).to.equal('warn');
      expect(line?.fields).to.deep.equal({
        store: 'postgres',
        postgres: { connectionString: 'postgresql://pbx:[redacted]@db.example.com/pbx?sslpassword=[redacted]', schema: 'pbx_email_notify', poolSize: 10, leaseMs: 15000 },
      });
      expect(JSON.stringify(host.logs)).to.not.contain(SECRET);
      host.changeConfig({ spool: { store: 'postgres', postgres: { connectionString: `mysql://pbx:${SECRET}@db/pbx` } } });
      expect(JSON.stringify(host.logs)).to.not.contain(SECRET);
      expect(host.logs.at(-1)?.fields?.problems).to.deep.equal([{ path: '/spool/postgres/connectionString', message: 'must match pattern "^postgres(ql)?://"' }]);
    } finally {
      await plugin.deactivate();
      host.cleanup();
    }
  });
});
