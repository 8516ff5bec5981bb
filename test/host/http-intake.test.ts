import { expect } from 'chai';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { HttpIntake } from '../../src/host/http-intake';
import { ReferenceHost } from '../../src/host/reference-host';
import { missed, tenantConfig, voicemail } from '../helpers/events';
import { parseRaw, raw, request } from '../helpers/http';
import { waitFor } from '../helpers/wait';
import { TestSmtp, testCa } from '../helpers/smtp';

const root = path.join(__dirname, '../..');
const TOKEN = 'test-token-0123456789abcdef';
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'pbx-http-'));

interface LogLine {
  level: string;
  msg: string;
  fields?: Record<string, unknown>;
}
function recordingLog() {
  const lines: LogLine[] = [];
  const at = (level: string) => (msg: string, fields?: Record<string, unknown>) => void lines.push({ level, msg, ...(fields && { fields }) });
  return { lines, log: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } };
}

describe('host: HTTP intake security', function () {
  this.timeout(30_000);
  let smtp: TestSmtp;
  let host: ReferenceHost;
  let dataDir: string;
  let logged: LogLine[];
  let port: number;
  const auth = { authorization: `Bearer ${TOKEN}` };
  const json = { 'content-type': 'application/json' };
  const send = (o: Parameters<typeof request>[1]) => request(port, { ...o, headers: { host: `127.0.0.1:${port}`, ...o?.headers } });
  const postEvent = (body: unknown, headers: Record<string, string> = { ...auth, ...json }) => send({ method: 'POST', path: '/events', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });

  beforeEach(async () => {
    smtp = await TestSmtp.start({ ca: testCa() });
    dataDir = tmp();
    const r = recordingLog();
    logged = r.lines;
    host = await ReferenceHost.start({
      pluginDir: root,
      config: tenantConfig(testCa().cert, { 'a.example.com': { port: smtp.port } }),
      dataDir,
      httpPort: 0,
      httpToken: TOKEN,
      allowHosts: ['pbx.example.net'],
      log: r.log,
    });
    port = host.httpPort!;
  });
  afterEach(async () => {
    await host.stop();
    await smtp.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('GET /health answers without a token', async () => {
    const r = await send({ path: '/health' });
    expect(r.status).to.equal(200);
    expect(r.json).to.deep.equal({ status: 'ok' });
  });

  it('401 HTTP_UNAUTHORIZED for every other endpoint without the right token, and nothing is sent', async () => {
    const calls = [
      { method: 'POST', path: '/events', body: JSON.stringify(missed('a.example.com')) },
      { method: 'GET', path: '/status' },
      { method: 'GET', path: '/preview/tenants' },
      { method: 'POST', path: '/preview', body: JSON.stringify({ tenant: 'a.example.com', eventType: 'call.missed' }) },
      { method: 'GET', path: '/nowhere' },
    ];
    for (const c of calls) {
      for (const authorization of [undefined, 'Bearer wrong-token-0123456789abcdef', `Basic ${Buffer.from('x:' + TOKEN).toString('base64')}`, `Bearer ${TOKEN}x`, TOKEN]) {
        const r = await send({ ...c, headers: { ...json, ...(authorization !== undefined && { authorization }) } });
        expect(r.status, `${c.method} ${c.path} with ${authorization}`).to.equal(401);
        expect(r.json).to.include({ code: 'HTTP_UNAUTHORIZED', field: 'Authorization' });
        expect(r.headers['www-authenticate']).to.match(/^Bearer/);
      }
    }
    expect(logged.filter((l) => l.fields?.code === 'HTTP_UNAUTHORIZED')).to.have.length(25);
    const ok = await postEvent(missed('a.example.com'));
    expect(ok.status).to.equal(202);
    const status = await send({ path: '/status', headers: { authorization: `bearer  ${TOKEN}` } });
    expect(status.status).to.equal(200);
    await smtp.waitFor(1);
    expect(smtp.mails).to.have.length(1);
  });

  it('415 HTTP_MEDIA_TYPE for a POST that is not application/json (the cross-site text/plain fetch)', async () => {
    const event = missed('a.example.com');
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/jsonx', undefined]) {
      const r = await postEvent(event, { ...auth, ...(type && { 'content-type': type }) });
      expect(r.status, String(type)).to.equal(415);
      expect(r.json).to.include({ code: 'HTTP_MEDIA_TYPE', field: 'Content-Type' });
    }
    const preview = await send({ method: 'POST', path: '/preview', headers: { ...auth, 'content-type': 'text/plain' }, body: '{}' });
    expect(preview.status).to.equal(415);
    expect((await (host.plugin as any).status()).counts.queued).to.equal(0);
    const ok = await postEvent(event, { ...auth, 'content-type': 'Application/JSON; charset=utf-8' });
    expect(ok.status).to.equal(202);
  });

  it('421 HTTP_HOST_REFUSED for a Host that is not the listen address nor an --allow-host name (DNS rebinding)', async () => {
    for (const h of ['evil.example', `evil.example:${port}`, `127.0.0.1.evil.example:${port}`, '10.0.0.1', `[::2]:${port}`, 'a b', 'user@127.0.0.1']) {
      for (const c of [{ path: '/status' }, { path: '/preview' }, { path: '/preview/tenants' }, { method: 'POST', path: '/events', body: JSON.stringify(missed('a.example.com')) }]) {
        const r = await request(port, { ...c, headers: { ...auth, ...json, host: h } });
        expect(r.status, `${c.path} Host ${h}`).to.equal(421);
        expect(r.json).to.include({ code: 'HTTP_HOST_REFUSED', field: 'Host' });
      }
    }
    const noHost = parseRaw(await raw(port, `GET /status HTTP/1.0\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n`));
    expect(noHost.status).to.equal(421);
    expect(noHost.json.code).to.equal('HTTP_HOST_REFUSED');
    for (const h of [`127.0.0.1:${port}`, `localhost:${port}`, 'LOCALHOST', `pbx.example.net:${port}`, 'PBX.example.NET']) {
      const r = await request(port, { path: '/status', headers: { ...auth, host: h } });
      expect(r.status, h).to.equal(200);
    }
    expect((await (host.plugin as any).status()).counts.queued).to.equal(0);
  });

  it('403 HTTP_ORIGIN_REFUSED for a request from another origin, also for GET /status and /preview', async () => {
    for (const origin of ['http://evil.example', `http://evil.example:${port}`, `https://127.0.0.1:${port}`, 'http://127.0.0.1', 'null', `http://127.0.0.1:${port + 1}`]) {
      for (const c of [{ path: '/status' }, { path: '/preview' }, { method: 'POST', path: '/events', body: JSON.stringify(missed('a.example.com')) }, { method: 'POST', path: '/preview', body: '{}' }]) {
        const r = await send({ ...c, headers: { ...auth, ...json, origin } });
        expect(r.status, `${c.path} from ${origin}`).to.equal(403);
        expect(r.json).to.include({ code: 'HTTP_ORIGIN_REFUSED', field: 'Origin' });
      }
    }
    expect((await (host.plugin as any).status()).counts.queued).to.equal(0);
    const same = await send({ method: 'POST', path: '/events', headers: { ...auth, ...json, origin: `http://127.0.0.1:${port}` }, body: JSON.stringify(missed('a.example.com')) });
    expect(same.status).to.equal(202);
  });

  it('413 HTTP_BODY_TOO_LARGE for an over-large body, answered before the connection closes, and the host goes on', async () => {
    const big = JSON.stringify({ ...missed('a.example.com'), pad: 'x'.repeat(2 * 1024 * 1024) });
    const declared = await postEvent(big);
    expect(declared.status).to.equal(413);
    expect(declared.json).to.include({ code: 'HTTP_BODY_TOO_LARGE' });
    // Chunked: no Content-Length to refuse on, so the limit trips while reading.
    const chunked = await send({ method: 'POST', path: '/events', headers: { ...auth, ...json, 'transfer-encoding': 'chunked' }, body: big });
    expect(chunked.status).to.equal(413);
    expect(chunked.json).to.include({ code: 'HTTP_BODY_TOO_LARGE' });
    const viaFetch = await fetch(`http://127.0.0.1:${port}/events`, { method: 'POST', headers: { ...auth, ...json }, body: big });
    expect(viaFetch.status).to.equal(413);
    expect(((await viaFetch.json()) as any).code).to.equal('HTTP_BODY_TOO_LARGE');
    expect((await (host.plugin as any).status()).counts.queued).to.equal(0);
    expect((await postEvent(missed('a.example.com'))).status).to.equal(202);
  });

  it('400 EVENT_INVALID for a body that is not a JSON object, on /events and /preview', async () => {
    for (const body of ['null', '[]', '[{"type":"call.missed"}]', '42', '"call.missed"', 'true', '', '{nope']) {
      for (const p of ['/events', '/preview']) {
        const r = await send({ method: 'POST', path: p, headers: { ...auth, ...json }, body });
        expect(r.status, `${p} ${body}`).to.equal(400);
        expect(r.json, `${p} ${body}`).to.include({ code: 'EVENT_INVALID', field: '/' });
      }
    }
    expect((await (host.plugin as any).status()).counts.queued).to.equal(0);
  });

  it('a malformed request line over a raw socket gets a coded 400, is logged, and the next request works', async () => {
    const bad = [
      `GET http://[ HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`,
      `POST http://[/events HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Length: 0\r\n\r\n`,
      `GET * HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`,
      'GARBAGE\r\n\r\n',
      `GET /status HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nBad Header\r\n\r\n`,
      `GET /status HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
    ];
    const statuses: number[] = [];
    for (const b of bad) {
      const r = parseRaw(await raw(port, b));
      statuses.push(r.status);
      expect(r.json.code, b.slice(0, 40)).to.equal('HTTP_BAD_REQUEST');
    }
    expect(statuses).to.deep.equal([400, 400, 400, 400, 400, 431]);
    expect(logged.filter((l) => l.fields?.code === 'HTTP_BAD_REQUEST')).to.have.length(6);
    expect(logged.filter((l) => l.level === 'error')).to.deep.equal([]);
    expect((await send({ path: '/health' })).status).to.equal(200);
    expect((await postEvent(missed('a.example.com'))).status).to.equal(202);
    await smtp.waitFor(1);
  });

  it('many idle connections: the longest-idle make room, an event with an attachment is still accepted and delivered', async () => {
    await host.stop();
    const files = tmp();
    const recording = path.join(files, 'vm.wav');
    fs.writeFileSync(recording, Buffer.concat([Buffer.from('RIFF\x24\x00\x00\x00WAVEfmt ', 'latin1'), Buffer.alloc(64)]));
    const r = recordingLog();
    host = await ReferenceHost.start({
      pluginDir: root,
      config: tenantConfig(testCa().cert, { 'a.example.com': { port: smtp.port } }, { attachmentRoots: [files] }),
      dataDir: tmp(),
      httpPort: 0,
      httpToken: TOKEN,
      httpLimits: { maxConnections: 50 },
      log: r.log,
    });
    port = host.httpPort!;
    const idle: net.Socket[] = [];
    let closedByServer = 0;
    try {
      for (let i = 0; i < 300; i++) {
        const s = net.connect(port, '127.0.0.1');
        s.on('error', () => undefined);
        s.on('close', () => closedByServer++);
        idle.push(s);
      }
      await waitFor(() => closedByServer === 250, { what: '250 idle connections closed by the host' });
      expect(host.httpConnections).to.equal(50);
      const res = await postEvent(voicemail('a.example.com', {}, { recording: { path: recording, contentType: 'audio/wav' } }));
      expect(res.status, res.text).to.equal(202);
      const [mail] = await smtp.waitFor(1);
      expect(mail!.parsed.attachments).to.have.length(1);
      await waitFor(() => closedByServer === 251, { what: 'one more idle connection closed for the POST' });
      expect(r.lines.filter((l) => l.fields?.code === 'ATTACHMENT_NOT_FOUND' || l.level === 'error')).to.deep.equal([]);
    } finally {
      for (const s of idle) s.destroy();
      fs.rmSync(files, { recursive: true, force: true });
    }
  });

  it('when every connection is busy, a new one gets 503 HTTP_OVERLOADED, and requests work again once they finish', async () => {
    await host.stop();
    host = await ReferenceHost.start({ pluginDir: root, config: tenantConfig(testCa().cert, { 'a.example.com': { port: smtp.port } }), dataDir: tmp(), httpPort: 0, httpToken: TOKEN, httpLimits: { maxConnections: 20 }, log: recordingLog().log });
    port = host.httpPort!;
    const body = JSON.stringify(missed('a.example.com'));
    const busy: net.Socket[] = [];
    try {
      // Twenty requests whose bodies have not finished arriving: each holds its connection busy.
      for (let i = 0; i < 20; i++) {
        const s = net.connect(port, '127.0.0.1', () => s.write(`POST /events HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 10)}`));
        s.on('error', () => undefined);
        busy.push(s);
      }
      await waitFor(() => host.httpConnections === 20, { what: '20 busy connections' });
      const over = await send({ path: '/status', headers: auth });
      expect(over.status).to.equal(503);
      expect(over.json).to.include({ code: 'HTTP_OVERLOADED' });
      expect(over.headers['retry-after']).to.equal('5');
      for (const s of busy) s.destroy();
      await waitFor(() => host.httpConnections === 0, { what: 'busy connections gone' });
      expect((await send({ path: '/status', headers: auth })).status).to.equal(200);
    } finally {
      for (const s of busy) s.destroy();
    }
  });

  it('an unexpected failure in a route is a coded 500 HTTP_INTERNAL, logged, and the host goes on', async () => {
    const r = recordingLog();
    const intake = new HttpIntake({
      listen: { host: '127.0.0.1', port: 0 },
      token: TOKEN,
      log: r.log,
      dispatch: async () => ({ status: 'queued' as const }),
      stopping: () => false,
      routes: { '/boom': { get: async () => JSON.parse('{') } },
    });
    const p = await intake.listen();
    try {
      const res = await request(p, { path: '/boom', headers: { ...auth, host: `127.0.0.1:${p}` } });
      expect(res.status).to.equal(500);
      expect(res.json.code).to.equal('HTTP_INTERNAL');
      expect(r.lines.filter((l) => l.level === 'error').map((l) => l.fields?.code)).to.deep.equal(['HTTP_INTERNAL']);
      expect((await request(p, { path: '/health', headers: { host: `127.0.0.1:${p}` } })).status).to.equal(200);
    } finally {
      await intake.close();
    }
  });
});
