import { expect } from 'chai';
import { connectionsForFileLimit, defaultHttpLimits, openFilesLimit } from '../../src/host/http-limits';

describe('host: HTTP limits', () => {
  it('keeps at least half the descriptors in reserve', () => {
    expect(connectionsForFileLimit(1024)).to.equal(448);
    expect(connectionsForFileLimit(256)).to.equal(64);
    expect(connectionsForFileLimit(100)).to.equal(8);
    expect(connectionsForFileLimit(1_048_576)).to.equal(1024);
    expect(connectionsForFileLimit(Infinity)).to.equal(1024);
    expect(connectionsForFileLimit(undefined)).to.equal(1024);
  });

  it("derives the default cap from this process's open-files limit", () => {
    const nofile = openFilesLimit();
    expect(nofile).to.be.a('number');
    expect(defaultHttpLimits()).to.deep.equal({ maxConnections: connectionsForFileLimit(nofile), headersTimeoutMs: 10_000, requestTimeoutMs: 30_000, keepAliveTimeoutMs: 5_000, maxBodyBytes: 1024 * 1024 });
  });
});
