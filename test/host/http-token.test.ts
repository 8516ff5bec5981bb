import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { generatedToken, resolveHttpToken, tokenMatches } from '../../src/host/http-token';
import { ReferenceHost } from '../../src/host/reference-host';
import { missed, tenantConfig } from '../helpers/events';
import { request } from '../helpers/http';
import { testCa } from '../helpers/smtp';

const root = path.join(__dirname, '../..');
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'pbx-token-'));

describe('host: HTTP token', () => {
  it('makes a random token in <data>/http-token with mode 0600 and reuses it', () => {
    const dir = tmp();
    try {
      const a = generatedToken(dir);
      expect(a.source).to.equal('generated');
      expect(a.path).to.equal(path.join(dir, 'http-token'));
      expect(a.token).to.match(/^[A-Za-z0-9_-]{43}$/);
      expect(fs.statSync(a.path!).mode & 0o777).to.equal(0o600);
      expect(generatedToken(dir).token).to.equal(a.token);
      fs.chmodSync(a.path!, 0o644);
      expect(generatedToken(dir).token).to.equal(a.token);
      expect(fs.statSync(a.path!).mode & 0o777).to.equal(0o600);
      const other = tmp();
      expect(generatedToken(other).token).to.not.equal(a.token);
      fs.rmSync(other, { recursive: true, force: true });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('takes --token-file first, then PBX_NOTIFY_TOKEN, and refuses a weak token with CONFIG_INVALID', () => {
    const dir = tmp();
    try {
      const file = path.join(dir, 'token');
      fs.writeFileSync(file, 'from-the-file-0123456789\n');
      const env = { PBX_NOTIFY_TOKEN: 'from-the-environment-0123' };
      expect(resolveHttpToken({ tokenFile: file, env, dataDir: dir })).to.deep.include({ token: 'from-the-file-0123456789', source: 'file' });
      expect(resolveHttpToken({ env, dataDir: dir })).to.deep.include({ token: 'from-the-environment-0123', source: 'env' });
      expect(fs.existsSync(path.join(dir, 'http-token'))).to.equal(false);
      expect(resolveHttpToken({ env: {}, dataDir: dir }).source).to.equal('generated');
      const refused = (f: () => unknown) => {
        try {
          f();
        } catch (e: any) {
          return [e.code, e.field];
        }
        throw new Error('accepted');
      };
      fs.writeFileSync(file, 'short\n');
      expect(refused(() => resolveHttpToken({ tokenFile: file, dataDir: dir }))).to.deep.equal(['CONFIG_INVALID', '--token-file']);
      expect(refused(() => resolveHttpToken({ tokenFile: path.join(dir, 'missing'), dataDir: dir }))).to.deep.equal(['CONFIG_INVALID', '--token-file']);
      expect(refused(() => resolveHttpToken({ env: { PBX_NOTIFY_TOKEN: 'has a space in it 0123456' }, dataDir: dir }))).to.deep.equal(['CONFIG_INVALID', 'PBX_NOTIFY_TOKEN']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('compares tokens over their hashes', () => {
    expect(tokenMatches('a'.repeat(20), 'a'.repeat(20))).to.equal(true);
    expect(tokenMatches('a'.repeat(20), 'a'.repeat(19))).to.equal(false);
    expect(tokenMatches('a'.repeat(20), '')).to.equal(false);
  });

  it('a reference host refuses a weak token with CONFIG_INVALID before it listens', async () => {
    const dataDir = tmp();
    try {
      await ReferenceHost.start({ pluginDir: root, config: tenantConfig(testCa().cert, { 'a.example.com': { port: 1 } }), dataDir, httpPort: 0, httpToken: 'short', log: { debug() {}, info() {}, warn() {}, error() {} } });
      expect.fail('started');
    } catch (e: any) {
      expect([e.code, e.field]).to.deep.equal(['CONFIG_INVALID', 'httpToken']);
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('a reference host given no token makes one in its data dir, logs the path, and requires it', async () => {
    const dataDir = tmp();
    const info: Record<string, unknown>[] = [];
    const log = { debug() {}, info: (_m: string, f?: Record<string, unknown>) => void (f && info.push(f)), warn() {}, error() {} };
    const host = await ReferenceHost.start({ pluginDir: root, config: tenantConfig(testCa().cert, { 'a.example.com': { port: 1 } }), dataDir, httpPort: 0, log });
    try {
      const file = path.join(dataDir, 'http-token');
      expect(info.filter((f) => f.tokenFile === file)).to.have.length(1);
      const token = fs.readFileSync(file, 'utf8').trim();
      expect(host.httpToken).to.equal(token);
      const headers = { host: `127.0.0.1:${host.httpPort}`, 'content-type': 'application/json' };
      const body = JSON.stringify(missed('a.example.com'));
      expect((await request(host.httpPort!, { method: 'POST', path: '/events', headers, body })).status).to.equal(401);
      expect((await request(host.httpPort!, { method: 'POST', path: '/events', headers: { ...headers, authorization: `Bearer ${token}` }, body })).status).to.equal(202);
    } finally {
      await host.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
