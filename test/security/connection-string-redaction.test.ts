import { expect } from 'chai';
import { connectionStringSecrets, redactConnectionString, Redactor } from '../../src/security';

const PW = 'pg-Zr81-LeakCanary-password';

describe('redaction: PostgreSQL connection strings (spool.postgres.connectionString)', () => {
  it('masks the password of user:password@ and keeps user, host, port, database and options', () => {
    expect(redactConnectionString(`postgresql://pbx:${PW}@db.example.com:5432/pbx?sslmode=verify-full`)).to.equal(
      'postgresql://pbx:[redacted]@db.example.com:5432/pbx?sslmode=verify-full',
    );
    expect(redactConnectionString(`postgres://pbx:${PW}@/pbx?host=/var/run/postgresql`)).to.equal('postgres://pbx:[redacted]@/pbx?host=/var/run/postgresql');
  });

  it('masks a ?password= (and sslpassword=) query parameter wherever it stands', () => {
    expect(redactConnectionString(`postgres://db/pbx?user=pbx&password=${PW}&sslmode=require`)).to.equal('postgres://db/pbx?user=pbx&password=[redacted]&sslmode=require');
    expect(redactConnectionString(`postgres://db/pbx?password=${encodeURIComponent(PW + '&=')}`)).to.equal('postgres://db/pbx?password=[redacted]');
    expect(redactConnectionString(`postgres://db/pbx?sslmode=require&sslpassword=${PW}#x`)).to.equal('postgres://db/pbx?sslmode=require&sslpassword=[redacted]#x');
    expect(redactConnectionString(`postgres://u:a@db/pbx?Password=${PW}`)).to.equal('postgres://u:[redacted]@db/pbx?Password=[redacted]');
  });

  it('masks a password holding @, :, / or percent-encoding whole, never a tail of it', () => {
    for (const pw of [`a@b:${PW}`, `${PW}/x@y`, encodeURIComponent(`${PW}@:/?#`)]) {
      const out = redactConnectionString(`postgresql://pbx:${pw}@db/pbx`);
      expect(out, pw).to.equal('postgresql://pbx:[redacted]@db/pbx');
    }
  });

  it('leaves a string without a password as it is', () => {
    for (const s of ['postgresql://db/pbx', 'postgresql://pbx@db:5432/pbx?sslmode=require', 'postgresql:///pbx?host=/tmp&application_name=x']) {
      expect(redactConnectionString(s)).to.equal(s);
    }
  });

  it('masks libpq keyword/value strings too (they are refused as config, but may show up in an error)', () => {
    expect(redactConnectionString(`host=db user=pbx password=${PW} dbname=pbx`)).to.equal('host=db user=pbx password=[redacted] dbname=pbx');
    expect(redactConnectionString(`host=db password = 'a b ${PW}' dbname=pbx`)).to.equal('host=db password = [redacted] dbname=pbx');
  });

  it('connectionStringSecrets() gives a Redactor what masks them in a driver error', () => {
    const url = `postgresql://pbx:${encodeURIComponent(PW + '@x')}@db/pbx?sslpassword=${PW}-ssl`;
    expect(connectionStringSecrets(url)).to.have.members([encodeURIComponent(PW + '@x'), `${PW}@x`, `${PW}-ssl`]);
    expect(connectionStringSecrets('postgres://db/pbx')).to.deep.equal([]);
    const r = new Redactor(connectionStringSecrets(url));
    const e = r.error(Object.assign(new Error(`password authentication failed (tried "${PW}@x")`), { code: '28P01' }));
    expect(e.message).to.not.contain(PW);
    expect(e.code).to.equal('28P01');
  });
});
