import { expect } from 'chai';
import * as fs from 'node:fs';
import * as pg from 'pg';
import { sharedPostgres, startPostgres, type TestPostgres } from '../helpers/postgres';

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

describe('test harness: a real PostgreSQL server', function () {
  this.timeout(90_000);

  describe('startPostgres()', () => {
    let server: TestPostgres;
    before(async () => {
      server = await startPostgres();
    });
    after(async () => {
      await server?.stop();
    });

    it('runs a query as the generated superuser, password required, fsync on', async () => {
      expect(server.url()).to.contain(`${server.user}:${encodeURIComponent(server.password)}@127.0.0.1:${server.port}/postgres`);
      const r = await withClient(server.url(), (c) =>
        c.query<{ who: string; fsync: string; one: number }>("SELECT current_user AS who, current_setting('fsync') AS fsync, 1 AS one"),
      );
      expect(r.rows[0]).to.deep.equal({ who: server.user, fsync: 'on', one: 1 });
      const wrong = server.url().replace(encodeURIComponent(server.password), 'wrong');
      const err = await withClient(wrong, (c) => c.query('SELECT 1')).then(
        () => undefined,
        (e: unknown) => e as { code?: string },
      );
      expect(err?.code, 'a wrong password is refused (28P01 invalid_password)').to.equal('28P01');
    });

    it('does not run as root', async function () {
      if (process.getuid?.() !== 0) this.skip();
      const st = fs.statSync(`${server.dir}/data`);
      expect(st.uid).to.not.equal(0);
      expect(fs.readFileSync(`/proc/${server.pid}/status`, 'utf8')).to.match(/^Uid:\s+[1-9]\d*/m);
    });

    it('gives each createDatabase() its own, independent database', async () => {
      const a = await server.createDatabase();
      const b = await server.createDatabase();
      expect(a).to.not.equal(b);
      await withClient(a, (c) => c.query('CREATE TABLE t (x int); INSERT INTO t VALUES (1)'));
      const inB = await withClient(b, (c) => c.query<{ t: string | null }>("SELECT to_regclass('public.t')::text AS t"));
      expect(inB.rows[0]!.t).to.equal(null);
      const inA = await withClient(a, (c) => c.query<{ x: number }>('SELECT x FROM t'));
      expect(inA.rows).to.deep.equal([{ x: 1 }]);
    });

    it('terminateBackends() cuts the other connections to one database only', async () => {
      const name = 't_term';
      const url = await server.createDatabase(name);
      const other = await server.createDatabase();
      const victim = new pg.Client({ connectionString: url });
      const bystander = new pg.Client({ connectionString: other });
      const errors: { code?: string }[] = [];
      victim.on('error', (e) => errors.push(e as { code?: string }));
      await victim.connect();
      await bystander.connect();
      try {
        expect(await server.terminateBackends(name)).to.equal(1);
        const e = await victim.query('SELECT 1').then(
          () => undefined,
          (x: unknown) => x as Error,
        );
        expect(e, 'the terminated connection fails').to.be.instanceOf(Error);
        expect((await bystander.query<{ one: number }>('SELECT 1 AS one')).rows).to.deep.equal([{ one: 1 }]);
      } finally {
        await victim.end().catch(() => {});
        await bystander.end();
      }
    });

    it('comes back after kill() with restart(), with committed data', async () => {
      const url = await server.createDatabase();
      await withClient(url, (c) => c.query('CREATE TABLE t (x int); INSERT INTO t VALUES (42)'));
      const oldPid = server.pid;
      server.kill();
      await server.restart();
      expect(server.pid).to.not.equal(oldPid);
      const r = await withClient(url, (c) => c.query<{ x: number }>('SELECT x FROM t'));
      expect(r.rows).to.deep.equal([{ x: 42 }]);
    });
  });

  it('refuses connections on its port after stop(), and leaves no directory', async () => {
    const server = await startPostgres();
    const url = server.url();
    await withClient(url, (c) => c.query('SELECT 1'));
    await server.stop();
    expect(fs.existsSync(server.dir)).to.equal(false);
    const err = await withClient(url, (c) => c.query('SELECT 1')).then(
      () => undefined,
      (e: unknown) => e as { code?: string },
    );
    expect(err?.code).to.equal('ECONNREFUSED');
  });

  it('sharedPostgres() is one server per process', async () => {
    const [a, b] = await Promise.all([sharedPostgres(), sharedPostgres()]);
    expect(a).to.equal(b);
    const url = await a.createDatabase();
    expect((await withClient(url, (c) => c.query<{ one: number }>('SELECT 1 AS one'))).rows).to.deep.equal([{ one: 1 }]);
  });
});
