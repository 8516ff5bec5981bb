import { expect } from 'chai';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { readManifest } from '../../src/host/load-plugin';
import { ReferenceHost } from '../../src/host/reference-host';
import { startBlackhole } from '../../src/host/demo/capture-smtp';
import { missed, tenantConfig, voicemail } from '../helpers/events';
import { TestSmtp, testCa } from '../helpers/smtp';
import { settles, waitFor } from '../helpers/wait';

const root = path.join(__dirname, '../..');
const main = path.join(root, 'dist/src/host/main.js');
const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'pbx-host-'));

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
      host = await ReferenceHost.start({ pluginDir: root, config: tenantConfig(testCa().cert, { 'a.example.com': { port: smtp.port } }), dataDir, httpPort: 0, input, output, log: quiet });
    });
    afterEach(async () => {
      await host.stop();
      await smtp.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    });

    const post = (body: unknown) =>
      fetch(`http://127.0.0.1:${host.httpPort}/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });

    it('answers 202 once queued, and the mail arrives', async () => {
      const res = await post(voicemail('a.example.com'));
      expect(res.status).to.equal(202);
      expect(((await res.json()) as any).status).to.equal('queued');
      await smtp.waitFor(1);
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
      const page = await fetch(`http://127.0.0.1:${host.httpPort}/preview`);
      expect(page.headers.get('content-type')).to.match(/text\/html/);
      expect(await page.text()).to.contain('a.example.com');
      const post = (body: string) => fetch(`http://127.0.0.1:${host.httpPort}/preview`, { method: 'POST', body });
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
      await waitFor(() => lines.length === 3, { what: 'three answers on stdout', detail: () => lines });
      expect(lines).to.deep.include({ id: ok.id, status: 'queued' });
      expect(lines.map((l) => l.code).filter(Boolean).sort()).to.deep.equal(['EVENT_INVALID', 'EVENT_INVALID']);
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
      host = await ReferenceHost.start({ pluginDir: root, config, dataDir, httpPort: 0, log: quiet });
      const url = `http://127.0.0.1:${host.httpPort}/events`;
      const send = () => fetch(url, { method: 'POST', body: JSON.stringify(missed('dead.example.com')) });
      expect((await send()).status).to.equal(202);
      // Wait until the session to the silent server is open, so deactivate has something to wait for.
      const plugin = host.plugin as unknown as { status(): { active: number } };
      await waitFor(() => plugin.status().active === 1, { what: 'a session open to the silent server', detail: () => plugin.status() });
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

    it('stops cleanly on SIGTERM with --config', async () => {
      const smtp = await TestSmtp.start({ ca: testCa() });
      const dir = tmp();
      const file = path.join(dir, 'config.json');
      fs.writeFileSync(file, JSON.stringify(tenantConfig(testCa().cert, { 'a.example.com': { port: smtp.port } })));
      const child = spawn(process.execPath, [main, '--config', file, '--port', '0', '--data', path.join(dir, 'data')], { stdio: ['pipe', 'pipe', 'pipe'] });
      const exited = new Promise<number | null>((r) => child.once('exit', r));
      try {
        let err = '';
        let out = '';
        child.stderr.on('data', (c) => (err += c));
        child.stdout.on('data', (c) => (out += c));
        await waitFor(
          () => {
            if (child.exitCode !== null) expect.fail(`the host exited before it was ready: ${err}`);
            return /POST events to/.test(err);
          },
          { what: 'the host to say it is ready', timeoutMs: 30_000, detail: () => err },
        );
        const ev = missed('a.example.com');
        child.stdin.write(JSON.stringify(ev) + '\n');
        await smtp.waitFor(1);
        expect(out).to.contain(`"status":"queued"`);
        child.kill('SIGTERM');
        const code = await settles(exited, { what: 'the host to exit after SIGTERM', timeoutMs: 15_000, detail: () => err });
        expect(code, err).to.equal(0);
      } finally {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGKILL');
          await exited;
        }
        await smtp.close();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
