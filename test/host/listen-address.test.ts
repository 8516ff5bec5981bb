import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { hostAllowed, isLoopback, parseListen } from '../../src/host/listen-address';
import { ReferenceHost } from '../../src/host/reference-host';
import { TestCa } from '../../src/host/demo/test-ca';
import { tenantConfig } from '../helpers/events';
import { request } from '../helpers/http';
import { testCa } from '../helpers/smtp';

const root = path.join(__dirname, '../..');

describe('host: --listen, Host check, TLS', () => {
  it('parses ADDR:PORT and refuses anything else with CONFIG_INVALID', () => {
    expect(parseListen('127.0.0.1:8787')).to.deep.equal({ host: '127.0.0.1', port: 8787 });
    expect(parseListen('[::1]:9000')).to.deep.equal({ host: '::1', port: 9000 });
    expect(parseListen('0.0.0.0:0')).to.deep.equal({ host: '0.0.0.0', port: 0 });
    expect(parseListen('pbx.example.net:443')).to.deep.equal({ host: 'pbx.example.net', port: 443 });
    for (const bad of ['8787', '127.0.0.1', '127.0.0.1:99999', '::1:8787', '[nope]:1', 'a b:1', '']) {
      try {
        parseListen(bad);
        expect.fail(`accepted ${bad}`);
      } catch (e: any) {
        expect([e.code, e.field], bad).to.deep.equal(['CONFIG_INVALID', '--listen']);
      }
    }
  });

  it('accepts in Host only the listen address, --allow-host names, localhost on loopback and IP literals on a wildcard bind', () => {
    const lo = { host: '127.0.0.1', port: 8787 };
    expect(hostAllowed('127.0.0.1:8787', lo, [])).to.equal(true);
    expect(hostAllowed('localhost:8787', lo, [])).to.equal(true);
    expect(hostAllowed('[::1]:8787', lo, [])).to.equal(true);
    expect(hostAllowed('evil.example:8787', lo, [])).to.equal(false);
    expect(hostAllowed('192.168.1.5:8787', lo, [])).to.equal(false);
    expect(hostAllowed(undefined, lo, [])).to.equal(false);
    expect(hostAllowed('pbx.example.net', lo, ['pbx.example.net'])).to.equal(true);
    const any = { host: '0.0.0.0', port: 8787 };
    expect(hostAllowed('192.168.1.5:8787', any, [])).to.equal(true);
    expect(hostAllowed('[fe80::1]:8787', any, [])).to.equal(true);
    expect(hostAllowed('evil.example', any, [])).to.equal(false);
    const lan = { host: '192.168.1.5', port: 8787 };
    expect(hostAllowed('192.168.1.5:8787', lan, [])).to.equal(true);
    expect(hostAllowed('localhost:8787', lan, [])).to.equal(false);
    expect(isLoopback('127.8.9.1')).to.equal(true);
    expect(isLoopback('::ffff:127.0.0.1')).to.equal(true);
    expect(isLoopback('128.0.0.1')).to.equal(false);
  });

  describe('binding beyond loopback', function () {
    this.timeout(30_000);
    const start = async (tls?: { cert: string; key: string }) => {
      const warnings: string[] = [];
      const log = { debug() {}, info() {}, warn: (m: string) => void warnings.push(m), error() {} };
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pbx-listen-'));
      const host = await ReferenceHost.start({ pluginDir: root, config: tenantConfig(testCa().cert, { 'a.example.com': { port: 1 } }), dataDir, httpPort: 0, httpHost: '0.0.0.0', httpToken: 'listen-token-0123456789', ...(tls && { tls }), log });
      return { host, warnings, done: async () => (await host.stop(), fs.rmSync(dataDir, { recursive: true, force: true })) };
    };

    it('warns when listening beyond loopback without TLS', async () => {
      const { host, warnings, done } = await start();
      try {
        expect(warnings.filter((w) => /without TLS/.test(w))).to.have.length(1);
        expect((await request(host.httpPort!, { path: '/health', headers: { host: `127.0.0.1:${host.httpPort}` } })).status).to.equal(200);
      } finally {
        await done();
      }
    });

    it('serves https with --tls-cert/--tls-key, without the warning', async () => {
      const ca = new TestCa('listen test CA');
      const { host, warnings, done } = await start(ca.issue({ hosts: ['localhost', '127.0.0.1'] }));
      try {
        expect(warnings.filter((w) => /without TLS/.test(w))).to.deep.equal([]);
        const headers = { host: `localhost:${host.httpPort}`, authorization: 'Bearer listen-token-0123456789' };
        const r = await request(host.httpPort!, { path: '/status', headers, ca: ca.cert });
        expect(r.status).to.equal(200);
        // Origin must match the https scheme.
        expect((await request(host.httpPort!, { path: '/status', headers: { ...headers, origin: `http://localhost:${host.httpPort}` }, ca: ca.cert })).status).to.equal(403);
        expect((await request(host.httpPort!, { path: '/status', headers: { ...headers, origin: `https://localhost:${host.httpPort}` }, ca: ca.cert })).status).to.equal(200);
        const plain = await request(host.httpPort!, { path: '/health', headers }).then((x) => x.status, (e: NodeJS.ErrnoException) => e.code);
        expect(plain, 'plain http to the https port').to.equal('ECONNRESET');
      } finally {
        await done();
      }
    });
  });
});
