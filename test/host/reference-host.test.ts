import { expect } from 'chai';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { readManifest } from '../../src/host/load-plugin';
import { ReferenceHost } from '../../src/host/reference-host';
import { startBlackhole } from '../../src/host/demo/capture-smtp';
import * as net from 'node:net';
import { missed, tenantConfig, voicemail } from '../helpers/events';
import { parseRaw, raw, request } from '../helpers/http';
import { startHostProcess } from '../helpers/host-process';
import { jsonLines } from '../helpers/json-lines';
import { TestSmtp, testCa } from '../helpers/smtp';
import { settles, waitFor } from '../helpers/wait';

const root = path.join(__dirname, '../..');
const main = path.join(root, 'dist/src/host/main.js');
const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'pbx-host-'));
const TOKEN = 'reference-host-test-token-0123';
const auth = { authorization: `Bearer ${TOKEN}` };

function pluginCopy(edit: (m: Record<string, unknown>) => void): string {
  const dir = tmp();
  fs.cpSync(path.join(root, 'schemas'), path.join(dir, 'schemas'), { recursive: true });
  const m = JSON.parse(fs.readFileSync(path.join(root, 'plugin.json'), 'utf8'));
  edit(m);
  fs.writeFileSync(path.join(dir, 'plugin.json'), JSON.stringify(m));
  return dir;
}

describe('reference host', () => {
  describe('manifest checks', () => {
    it('accepts the real plugin.json', () => {
      expect(readManifest(root).manifest.id).to.equal('pbx-email-notify');
    });
    it('refuses a manifest that breaks its schema with MANIFEST_INVALID naming the field', () => {
      const dir = pluginCopy((m) => {
        m.main = 'src/index.ts';
        m.surprise = true;
      });
      try {
        readManifest(dir);
        expect.fail('accepted');
      } catch (e: any) {
        expect(e.code).to.equal('MANIFEST_INVALID');
        expect(e.problems.map((p: any) => p.path)).to.include.members(['/main', '/surprise']);
      }
    });
    it('refuses a plugin needing another contract version with HOST_API_UNSUPPORTED', () => {
      const dir = pluginCopy((m) => (m.hostApi = '^2.0.0'));
      try {
        readManifest(dir);
        expect.fail('accepted');
      } catch (e: any) {
        expect(e.code).to.equal('HOST_API_UNSUPPORTED');
        expect(e.field).to.equal('/hostApi');
      }
    });
  });

  describe('intake', () => {
    let smtp: TestSmtp;
    let host: ReferenceHost;
    let dataDir: string;
    const input = new PassThrough();
    const output = new PassThrough();

    beforeEach(async () => {
      smtp = await TestSmtp.start({ ca: testCa() });
      dataDir = tmp();
      host = await ReferenceHost.start({ pluginDir: root, config: tenantConfig(testCa().cert, { 'a.example.com': { port: smtp.port } }), dataDir, httpPort: 0, httpToken: TOKEN, input, output, log: quiet });
    });
    afterEach(async () => {
      await host.stop();
      await smtp.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    });

    const post = (body: unknown) =>
      fetch(`http://127.0.0.1:${host.httpPort}/events`, { method: 'POST', headers: { 'content-type': 'application/json', ...auth }, body: typeof body === 'string' ? body : JSON.stringify(body) });

    it('answers 202 once queued, and the mail arrives', async () => {
      const res = await post(voicemail('a.example.com'));
      expect(res.status).to.equal(202);
      expect(((await res.json()) as any).status).to.equal('queued');
      await smtp.waitFor(1);
    });

    it('answers 202 duplicate with the current state when a known event id is posted again, and sends nothing more', async () => {
      const ev = voicemail('a.example.com');
      expect((await post(ev)).status).to.equal(202);
      await smtp.waitFor(1);
      // Until its outcome is written the mail may still be `sending`; each answer is a duplicate with the state of the moment.
      const answers: unknown[] = [];
      await waitFor(async () => {
        const again = await post(ev);
        answers.push([again.status, await again.json()]);
        return (answers.at(-1) as [number, { state: string }])[1].state === 'delivered';
      }, { what: 'a duplicate answer with state delivered', detail: () => answers });
      for (const [status, body] of answers as [number, Record<string, unknown>][]) {
        expect(status).to.equal(202);
        expect(body).to.deep.include({ status: 'duplicate', id: ev.id });
      }
      expect(answers.at(-1)).to.deep.equal([202, { status: 'duplicate', state: 'delivered', id: ev.id }]);
      expect(smtp.mails).to.have.length(1);
    });

    it('answers 400 with the code and field of a refusal', async () => {
      const bad = voicemail('a.example.com', {}, { durationSeconds: -1 });
      const res = await post(bad);
      expect(res.status).to.equal(400);
      expect(await res.json()).to.include({ code: 'EVENT_INVALID', field: '/data/durationSeconds' });
      const notJson = await post('{nope');
      expect(notJson.status).to.equal(400);
      expect(((await notJson.json()) as any).code).to.equal('EVENT_INVALID');
      const unknown = await post({ ...missed('a.example.com'), type: 'call.answered' });
      expect(unknown.status).to.equal(400);
      expect(((await unknown.json()) as any).code).to.equal('EVENT_TYPE_UNKNOWN');
      const stranger = await post(missed('nobody.example.com'));
      expect(((await stranger.json()) as any).code).to.equal('TENANT_NOT_CONFIGURED');
    });

    it('serves the template preview page and renders previews', async () => {
      // The page itself holds no data and opens without the token; what it shows comes with the token.
      const page = await fetch(`http://127.0.0.1:${host.httpPort}/preview`);
      expect(page.status).to.equal(200);
      expect(page.headers.get('content-type')).to.match(/text\/html/);
      expect(page.headers.get('x-frame-options')).to.equal('DENY');
      expect(page.headers.get('content-security-policy')).to.contain("frame-ancestors 'none'");
      expect(await page.text()).to.not.contain('a.example.com');
      const tenants = await fetch(`http://127.0.0.1:${host.httpPort}/preview/tenants`, { headers: auth });
      expect(await tenants.json()).to.deep.equal({ tenants: ['a.example.com'] });
      const post = (body: string) => fetch(`http://127.0.0.1:${host.httpPort}/preview`, { method: 'POST', headers: { 'content-type': 'application/json', ...auth }, body });
      const ok = await post(JSON.stringify({ tenant: 'a.example.com', eventType: 'call.missed', language: 'de', sources: { subject: 'Anruf von {{caller.display}}' } }));
      expect(ok.status).to.equal(200);
      expect(((await ok.json()) as any).subject).to.match(/^Anruf von /);
      const bad = await post(JSON.stringify({ tenant: 'a.example.com', eventType: 'call.answered' }));
      expect(bad.status).to.equal(400);
      expect(((await bad.json()) as any).code).to.equal('EVENT_TYPE_UNKNOWN');
      const notJson = await post('{');
      expect(notJson.status).to.equal(400);
    });

    it('takes JSON lines on stdin and answers each on stdout', async () => {
      const lines: any[] = [];
      output.on('data', (c: Buffer) => lines.push(...c.toString().trim().split('\n').map((l) => JSON.parse(l))));
      const ok = missed('a.example.com');
      input.write(JSON.stringify(ok) + '\n');
      input.write('not json\n');
      input.write(JSON.stringify(missed('a.example.com', {}, { recipient: { extension: '1', email: [] } })) + '\n');
      input.write('null\n[]\n');
      await waitFor(() => lines.length === 5, { what: 'five answers on stdout', detail: () => lines });
      expect(lines).to.deep.include({ id: ok.id, status: 'queued' });
      expect(lines.map((l) => l.code).filter(Boolean).sort()).to.deep.equal(['EVENT_INVALID', 'EVENT_INVALID', 'EVENT_INVALID', 'EVENT_INVALID']);
      expect(lines.filter((l) => l.field === '/' && /expected a JSON object/.test(l.message))).to.have.length(2);
      await smtp.waitFor(1);
    });
  });

  it('answers 503 while stopping', async () => {
    const dead = await startBlackhole();
    const dataDir = tmp();
    let host: ReferenceHost | undefined;
    let stopping: Promise<void> | undefined;
    try {
      const config = tenantConfig(testCa().cert, { 'dead.example.com': { port: dead.port } });
      config.delivery.shutdownTimeoutMs = 1500;
      host = await ReferenceHost.start({ pluginDir: root, config, dataDir, httpPort: 0, httpToken: TOKEN, log: quiet });
      const url = `http://127.0.0.1:${host.httpPort}/events`;
      const send = () => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...auth }, body: JSON.stringify(missed('dead.example.com')) });
      expect((await send()).status).to.equal(202);
      // Wait until the session to the silent server is open, so deactivate has something to wait for.
      const plugin = host.plugin as unknown as { status(): Promise<{ active: number }> };
      let seen: unknown;
      await waitFor(async () => ((seen = await plugin.status()) as { active: number }).active === 1, { what: 'a session open to the silent server', detail: () => seen });
      stopping = host.stop();
      const res = await send();
      expect(res.status).to.equal(503);
      expect(((await res.json()) as any).code).to.equal('PLUGIN_STOPPED');
      await settles(stopping, { what: 'the host to stop', timeoutMs: 10_000 });
    } finally {
      await (stopping ?? host?.stop());
      await dead.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });

  describe('process (dist build)', function () {
    this.timeout(60_000);
    it('runs the demo: the live tenant gets its mail, the dead one is deferred', async () => {
      const cwd = tmp();
      const child = spawn(process.execPath, [main, '--exit-after-demo', '--port', '0'], { cwd });
      const exited = new Promise<number | null>((r) => child.once('exit', r));
      try {
        let out = '';
        child.stdout.on('data', (c) => (out += c));
        const code = await settles(exited, { what: 'the demo to exit on its own', timeoutMs: 45_000, detail: () => out });
        expect(code, out).to.equal(0);
        expect(out.match(/ delivered /g)).to.have.length(3);
        expect(out).to.match(/deferred\s+SMTP_TIMEOUT/);
        const emls = fs.readdirSync(path.join(cwd, 'outbox/acme.example.com')).filter((f) => f.endsWith('.eml'));
        expect(emls).to.have.length(3);
      } finally {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGKILL');
          await exited;
        }
        fs.rmSync(cwd, { recursive: true, force: true });
      }
    });

    const startMain = startHostProcess;

    it('stops cleanly on SIGTERM with --config', async () => {
      const smtp = await TestSmtp.start({ ca: testCa() });
      const dir = tmp();
      const file = path.join(dir, 'config.json');
      fs.writeFileSync(file, JSON.stringify(tenantConfig(testCa().cert, { 'a.example.com': { port: smtp.port } })));
      try {
        const { child, io, exited } = await startMain(['--config', file, '--port', '0', '--data', path.join(dir, 'data')]);
        try {
          const ev = missed('a.example.com');
          child.stdin.write(JSON.stringify(ev) + '\n');
          await smtp.waitFor(1);
          expect(io.out).to.contain(`"status":"queued"`);
        } finally {
          child.kill('SIGTERM');
        }
        expect(await settles(exited, { what: 'the host to stop on SIGTERM', timeoutMs: 15_000, detail: () => io.err }), io.err).to.equal(0);
      } finally {
        await smtp.close();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it('logs JSON lines only: a startup line naming version, tenant count and spool, one line per outcome', async () => {
      const smtp = await TestSmtp.start({ ca: testCa() });
      const dir = tmp();
      const file = path.join(dir, 'config.json');
      fs.writeFileSync(file, JSON.stringify(tenantConfig(testCa().cert, { 'a.example.com': { port: smtp.port }, 'b.example.com': { port: 1 } })));
      const data = path.join(dir, 'data');
      try {
        const { child, io, exited } = await startMain(['--config', file, '--port', '0', '--data', data]);
        const ev = missed('a.example.com');
        try {
          child.stdin.write(JSON.stringify(ev) + '\n');
          await smtp.waitFor(1);
          await waitFor(() => jsonLines(io.err).some((l) => l.msg === 'email.delivered'), { what: 'the delivered line', detail: () => io.err });
          child.stdin.write('not json\n');
          await waitFor(() => io.out.includes('EVENT_INVALID'), { what: 'the refusal on stdout', detail: () => io.out });
        } finally {
          child.kill('SIGTERM');
        }
        expect(await settles(exited, { what: 'the host to stop', timeoutMs: 15_000, detail: () => io.err })).to.equal(0);
        const lines = jsonLines(io.err);
        expect(io.err.endsWith('\n')).to.equal(true);
        const version = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).version;
        const active = lines.filter((l) => l.msg === 'pbx-email-notify active');
        expect(active.map(({ version, tenants, spool }) => ({ version, tenants, spool }))).to.deep.equal([{ version, tenants: 2, spool: path.join(data, 'spool.db') }]);
        expect(lines.filter((l) => JSON.stringify(l).includes(ev.id)).map((l) => [l.level, l.msg])).to.deep.equal([['info', 'email.delivered']]);
        expect(lines.filter((l) => l.msg === 'stopping').map((l) => l.signal)).to.deep.equal(['SIGTERM']);
      } finally {
        await smtp.close();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it('with no token given, makes <data>/http-token (0600), names it, requires it, and survives a malformed request line', async () => {
      const smtp = await TestSmtp.start({ ca: testCa() });
      const dir = tmp();
      const file = path.join(dir, 'config.json');
      fs.writeFileSync(file, JSON.stringify(tenantConfig(testCa().cert, { 'a.example.com': { port: smtp.port } })));
      const data = path.join(dir, 'data');
      const { child, io, port, tokenFile, exited } = await startMain(['--config', file, '--listen', '127.0.0.1:0', '--data', data, '--no-stdin']);
      try {
        expect(tokenFile).to.equal(path.join(data, 'http-token'));
        expect(fs.statSync(tokenFile!).mode & 0o777).to.equal(0o600);
        const token = fs.readFileSync(tokenFile!, 'utf8').trim();
        const post = (authorization?: string) =>
          request(port, { method: 'POST', path: '/events', headers: { host: `127.0.0.1:${port}`, 'content-type': 'application/json', ...(authorization && { authorization }) }, body: JSON.stringify(missed('a.example.com')) });
        expect((await post()).json.code).to.equal('HTTP_UNAUTHORIZED');
        // This one request used to kill the host (an unhandled rejection from new URL()).
        const bad = parseRaw(await raw(port, `GET http://[ HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`));
        expect([bad.status, bad.json.code]).to.deep.equal([400, 'HTTP_BAD_REQUEST']);
        expect(parseRaw(await raw(port, 'GARBAGE\r\n\r\n')).status).to.equal(400);
        expect(child.exitCode).to.equal(null);
        expect((await post(`Bearer ${token}`)).status).to.equal(202);
        await smtp.waitFor(1);
        expect(io.err).to.match(/"code":"HTTP_BAD_REQUEST"/);
      } finally {
        child.kill('SIGTERM');
        expect(await exited, io.err).to.equal(0);
        await smtp.close();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it('takes the token from --token-file and names from --allow-host', async () => {
      const dir = tmp();
      const file = path.join(dir, 'config.json');
      fs.writeFileSync(file, JSON.stringify(tenantConfig(testCa().cert, { 'a.example.com': { port: 1 } })));
      fs.writeFileSync(path.join(dir, 'token'), 'operator-chosen-token-0123456789\n', { mode: 0o600 });
      const { child, io, port, tokenFile, exited } = await startMain(['--config', file, '--listen', '127.0.0.1:0', '--data', path.join(dir, 'data'), '--no-stdin', '--token-file', path.join(dir, 'token'), '--allow-host', 'pbx.example.net', '--allow-host', 'pbx2.example.net'], { env: { PBX_NOTIFY_TOKEN: 'env-token-loses-to-the-file-0123' } });
      try {
        expect(tokenFile).to.equal(path.join(dir, 'token'));
        expect(fs.existsSync(path.join(dir, 'data/http-token'))).to.equal(false);
        const get = (host: string, token: string) => request(port, { path: '/status', headers: { host, authorization: `Bearer ${token}` } });
        expect((await get(`127.0.0.1:${port}`, 'operator-chosen-token-0123456789')).status).to.equal(200);
        expect((await get(`127.0.0.1:${port}`, 'env-token-loses-to-the-file-0123')).status).to.equal(401);
        expect((await get('pbx.example.net', 'operator-chosen-token-0123456789')).status).to.equal(200);
        expect((await get(`pbx2.example.net:${port}`, 'operator-chosen-token-0123456789')).status).to.equal(200);
        expect((await get('pbx3.example.net', 'operator-chosen-token-0123456789')).status).to.equal(421);
      } finally {
        child.kill('SIGTERM');
        expect(await exited, io.err).to.equal(0);
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it('with only 256 descriptors, 300 idle connections leave the next voicemail accepted with its recording', async () => {
      const smtp = await TestSmtp.start({ ca: testCa() });
      const dir = tmp();
      const files = path.join(dir, 'files');
      fs.mkdirSync(files);
      const recording = path.join(files, 'vm.wav');
      fs.writeFileSync(recording, Buffer.concat([Buffer.from('RIFF\x24\x00\x00\x00WAVEfmt ', 'latin1'), Buffer.alloc(64)]));
      const file = path.join(dir, 'config.json');
      fs.writeFileSync(file, JSON.stringify(tenantConfig(testCa().cert, { 'a.example.com': { port: smtp.port } }, { attachmentRoots: [files] })));
      const token = 'env-token-for-the-fd-test-0123';
      const { child, io, port, exited } = await startMain(['--config', file, '--port', '0', '--data', path.join(dir, 'data'), '--no-stdin'], { shell: 'ulimit -n 256', env: { PBX_NOTIFY_TOKEN: token } });
      const idle: net.Socket[] = [];
      let closedByServer = 0;
      try {
        for (let i = 0; i < 300; i++) {
          const s = net.connect(port, '127.0.0.1');
          s.on('error', () => undefined);
          s.on('close', () => closedByServer++);
          idle.push(s);
        }
        // 256 descriptors keep 64 connections (half in reserve, less 64): the other 236 are closed as they come.
        await waitFor(() => closedByServer === 236, { what: '236 connections closed by the host', timeoutMs: 20_000 });
        const res = await request(port, {
          method: 'POST',
          path: '/events',
          headers: { host: `127.0.0.1:${port}`, 'content-type': 'application/json', authorization: `Bearer ${token}` },
          body: JSON.stringify(voicemail('a.example.com', {}, { recording: { path: recording, contentType: 'audio/wav' } })),
        });
        expect(res.status, res.text).to.equal(202);
        const [mail] = await smtp.waitFor(1);
        expect(mail!.parsed.attachments).to.have.length(1);
        expect(io.err).to.not.contain('ATTACHMENT_NOT_FOUND');
        expect(io.err).to.not.contain('EMFILE');
      } finally {
        for (const s of idle) s.destroy();
        child.kill('SIGTERM');
        expect(await exited, io.err).to.equal(0);
        await smtp.close();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it('the demo keeps serving and prints a curl line whose token works', async () => {
      const cwd = tmp();
      const child = spawn(process.execPath, [main, '--port', '0', '--no-stdin'], { cwd, env: { ...process.env, PBX_NOTIFY_TOKEN: '' } });
      let out = '';
      child.stdout.on('data', (c) => (out += c));
      const exited = new Promise((r) => child.on('exit', r));
      try {
        await waitFor(() => /Ctrl-C to stop/.test(out) || child.exitCode !== null, { what: 'the demo to finish its table', timeoutMs: 30_000 });
        const m = /curl -X POST -H 'content-type: application\/json' -H 'authorization: Bearer ([A-Za-z0-9_-]+)' --data @event\.json (http:\/\/127\.0\.0\.1:(\d+)\/events)/.exec(out);
        expect(m, out).to.not.equal(null);
        const [, token, url, port] = m!;
        expect(out).to.contain(`/preview#token=${token}`);
        const event = JSON.stringify(missed('acme.example.com'));
        const headers = { host: `127.0.0.1:${port}`, 'content-type': 'application/json' };
        expect((await request(Number(port), { method: 'POST', path: new URL(url!).pathname, headers: { ...headers, authorization: `Bearer ${token}` }, body: event })).status).to.equal(202);
        expect((await request(Number(port), { method: 'POST', path: '/events', headers, body: event })).status).to.equal(401);
      } finally {
        child.kill('SIGTERM');
        expect(await exited, out).to.equal(0);
        fs.rmSync(cwd, { recursive: true, force: true });
      }
    });
  });
});
