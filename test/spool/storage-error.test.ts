import { expect } from 'chai';
import { PluginError } from '../../src/errors';
import { isConnectionLoss, storageError, storageErrorCode } from '../../src/spool';

// Store-independent unit test of storageError(): no spool is opened.
describe('spool: storageError, every storage error as a coded PluginError', () => {
  const pgError = (code: string, message: string) => Object.assign(new Error(message), { code, severity: 'FATAL' });

  for (const [what, e, code] of [
    ['a refused connection to every address of localhost (AggregateError)', Object.assign(new AggregateError([Object.assign(new Error('connect ECONNREFUSED ::1:5432'), { code: 'ECONNREFUSED' }), Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })]), { code: 'ECONNREFUSED' }), 'ECONNREFUSED'],
    ['a reset connection', Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }), 'ECONNRESET'],
    ['57P01 admin_shutdown', pgError('57P01', 'terminating connection due to administrator command'), '57P01'],
    ['08006 connection_failure', pgError('08006', 'connection failure'), '08006'],
    ['pg: Connection terminated unexpectedly (no code)', new Error('Connection terminated unexpectedly'), 'CONNECTION_LOST'],
  ] as const) {
    it(`${what}: SPOOL_FAILURE, a lost connection, the cause kept`, () => {
      expect(isConnectionLoss(e)).to.equal(true);
      const err = storageError(e, 'spool: storing');
      expect(err).to.be.instanceOf(PluginError);
      expect(err.code).to.equal('SPOOL_FAILURE');
      expect(err.cause).to.equal(e);
      expect(err.message).to.match(/^spool: storing: the spool database connection is lost or refused \(/);
      expect(storageErrorCode(err)).to.equal(code);
    });
  }

  it('the AggregateError of a refused localhost says which addresses (it has no message of its own)', () => {
    const e = Object.assign(new AggregateError([Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })]), { code: 'ECONNREFUSED' });
    expect(storageError(e, 'x').message).to.contain('ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:5432');
  });

  it('other PostgreSQL errors are SPOOL_FAILURE with their SQLSTATE, not a lost connection; a PluginError passes unchanged', () => {
    const e = pgError('53100', 'could not extend file: No space left on device');
    expect(isConnectionLoss(e)).to.equal(false);
    const err = storageError(e, 'spool: storing');
    expect(err.code).to.equal('SPOOL_FAILURE');
    expect(err.message).to.equal('spool: storing: 53100: could not extend file: No space left on device');
    expect(storageErrorCode(err)).to.equal('53100');
    const own = new PluginError('SPOOL_CORRUPT', 'damaged');
    expect(storageError(own, 'x')).to.equal(own);
    expect(storageError(Object.assign(new Error('disk image is malformed'), { code: 'SQLITE_CORRUPT' }), 'x').code).to.equal('SPOOL_CORRUPT');
  });
});
