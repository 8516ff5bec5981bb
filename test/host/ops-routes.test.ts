import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ReferenceHost } from '../../src/host/reference-host';
import { missed, tenantConfig } from '../helpers/events';
import { raw, parseRaw, request } from '../helpers/http';
import { testCa } from '../helpers/smtp';
import { waitFor } from '../helpers/wait';

const root = path.join(__dirname, '../..');
const TOKEN = 'ops-routes-token-0123456789';
const quiet = { debug() {}, info() {}, warn() {}, error() {} };

describe('host: the operations routes refuse hostile input with codes', function () {
  this.timeout(20_000);
  let host: ReferenceHost;
  let dataDir: string;
  let port: number;
  const send = (method: string, p: string, o: { body?: string; headers?: Record<string, string> } = {}) =>
    request(port, { method, path: p, headers: { host: `127.0.0.1:${port}`, authorization: `Bearer ${TOKEN}`, ...(o.body !== undefined && { 'content-type': 'application/json' }), ...o.headers }, ...(o.body !== undefined && { body: o.body }) });

  before(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pbx-ops-routes-'));
    // Retries a minute apart: a deferred message stays out of a session while the test acts on it.
    const config = tenantConfig(testCa().cert, { 'a.example.com': { port: 1 } }, { delivery: { retry: { initialDelayMs: 60_000, maxDelayMs: 60_000, maxAgeMs: 600_000 }, messageTimeoutMs: 8000, shutdownTimeoutMs: 500 } });
    host = await ReferenceHost.start({ pluginDir: root, config, dataDir, httpPort: 0, httpToken: TOKEN, log: quiet });
    port = host.httpPort!;
  });
  after(async () => {
    await host?.stop();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('every operations route needs the token', async () => {
    const calls: [string, string][] = [
      ['GET', '/messages'],
      ['GET', '/messages/a.example.com/x'],
      ['POST', '/messages/a.example.com/x/retry'],
      ['DELETE', '/messages/a.example.com/x'],
      ['POST', '/tenants/a.example.com/flush'],
      ['POST', '/tenants/a.example.com/retry-failed'],
      ['POST', '/tenants/a.example.com/test'],
      ['GET', '/refusals'],
      ['GET', '/metrics'],
    ];
    for (const [method, p] of calls) {
      const r = await send(method, p, { headers: { authorization: 'Bearer not-the-token-0123456789' }, ...(method === 'POST' && { body: '{}' }) });
      expect([r.status, r.json.code, r.json.field], `${method} ${p}`).to.deep.equal([401, 'HTTP_UNAUTHORIZED', 'Authorization']);
    }
  });

  it('bad percent-encoding, over-long ids and unknown or repeated query parameters: 400 naming the field', async () => {
    const cases: [string, string, number, string, string][] = [
      ['GET', '/messages/a.example.com/%E0%A4%A', 400, 'HTTP_BAD_REQUEST', 'eventId'],
      ['GET', '/messages/%ZZ/x', 400, 'HTTP_BAD_REQUEST', 'tenant'],
      ['DELETE', `/messages/a.example.com/${'x'.repeat(2000)}`, 400, 'HTTP_BAD_REQUEST', 'eventId'],
      ['GET', '/messages/a.example.com/', 400, 'HTTP_BAD_REQUEST', 'eventId'],
      ['GET', '/messages?tenant=a.example.com&colour=red', 400, 'QUERY_INVALID', 'query.colour'],
      ['GET', '/messages?state=failed&state=queued', 400, 'QUERY_INVALID', 'query.state'],
      ['GET', '/messages?tenant=%', 400, 'HTTP_BAD_REQUEST', 'query.tenant'],
      ['GET', '/messages?limit=ten', 400, 'QUERY_INVALID', 'limit'],
      ['GET', '/refusals?since=2026-01-01', 400, 'QUERY_INVALID', 'query.since'],
      ['GET', `/messages?tenant=${'a'.repeat(3000)}`, 400, 'HTTP_BAD_REQUEST', 'query.tenant'],
    ];
    for (const [method, p, status, code, field] of cases) {
      const r = await send(method, p);
      expect([r.status, r.json?.code, r.json?.field], `${method} ${p.slice(0, 80)}: ${r.text.slice(0, 200)}`).to.deep.equal([status, code, field]);
    }
  });

  it('bodies: JSON objects with only the fields the endpoint takes, sent as application/json', async () => {
    const cases: [string, string | undefined, Record<string, string>, number, string, string][] = [
      ['/messages/a.example.com/x/retry', '{"force":true}', {}, 400, 'QUERY_INVALID', '/force'],
      ['/tenants/a.example.com/flush', '{"all":1}', {}, 400, 'QUERY_INVALID', '/all'],
      ['/tenants/a.example.com/retry-failed', '{}', {}, 400, 'QUERY_INVALID', '/since'],
      ['/tenants/a.example.com/retry-failed', '{"since":5}', {}, 400, 'QUERY_INVALID', '/since'],
      ['/tenants/a.example.com/test', '{"eventType":"call.missed"}', {}, 400, 'QUERY_INVALID', '/to'],
      ['/tenants/a.example.com/test', '{"to":"x@y.example","cc":"z@y.example"}', {}, 400, 'QUERY_INVALID', '/cc'],
      ['/tenants/a.example.com/flush', '[]', {}, 400, 'QUERY_INVALID', '/'],
      ['/tenants/a.example.com/flush', '{"a":', {}, 400, 'QUERY_INVALID', '/'],
      ['/tenants/a.example.com/flush', '{}', { 'content-type': 'text/plain' }, 415, 'HTTP_MEDIA_TYPE', 'Content-Type'],
    ];
    for (const [p, body, headers, status, code, field] of cases) {
      const r = await send('POST', p, { ...(body !== undefined && { body }), headers });
      expect([r.status, r.json?.code, r.json?.field], `${p} ${body}: ${r.text.slice(0, 200)}`).to.deep.equal([status, code, field]);
    }
  });

  it('methods and origins: 405 with Allow, 403 for another origin (a DELETE from a web page)', async () => {
    const put = await send('PUT', '/messages/a.example.com/x');
    expect([put.status, put.json.code, put.headers.allow]).to.deep.equal([405, 'HTTP_NOT_FOUND', 'GET, DELETE']);
    const cross = await send('DELETE', '/messages/a.example.com/x', { headers: { origin: 'https://evil.example' } });
    expect([cross.status, cross.json.code, cross.json.field]).to.deep.equal([403, 'HTTP_ORIGIN_REFUSED', 'Origin']);
    const smuggled = parseRaw(await raw(port, `GET /messages/a.example.com/x%00y HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n`));
    expect([smuggled.status, smuggled.json.code, smuggled.json.field]).to.deep.equal([404, 'MESSAGE_NOT_FOUND', 'eventId']);
  });

  it("the plugin's refusals keep their codes and get their statuses: 404, 409, 400", async () => {
    const ev = missed('a.example.com', { id: 'ops/routes-1' });
    await host.dispatch(ev as never);
    const enc = encodeURIComponent(ev.id);
    expect(enc).to.equal('ops%2Froutes-1');
    // Its server is dead: once deferred (not in a session), it can be discarded.
    const got = await waitFor(async () => {
      const r = await send('GET', `/messages/a.example.com/${enc}`);
      return r.json?.state === 'deferred' ? r : undefined;
    }, { what: 'the message deferred' });
    expect([got.status, got.json.eventId, got.json.tenant]).to.deep.equal([200, ev.id, 'a.example.com']);
    const cases: [string, string, string | undefined, number, string | undefined, string | undefined][] = [
      ['GET', '/messages/a.example.com/nope', undefined, 404, 'MESSAGE_NOT_FOUND', 'eventId'],
      ['POST', '/messages/a.example.com/nope/retry', '{}', 404, 'MESSAGE_NOT_FOUND', 'eventId'],
      ['POST', '/tenants/nobody.example.com/flush', '{}', 404, 'TENANT_UNKNOWN', 'tenant'],
      ['GET', '/messages?state=lost', undefined, 400, 'QUERY_INVALID', 'state'],
      ['GET', '/messages?limit=0', undefined, 400, 'QUERY_INVALID', 'limit'],
      ['POST', '/tenants/a.example.com/retry-failed', '{"since":"soon"}', 400, 'QUERY_INVALID', 'since'],
      ['POST', '/tenants/a.example.com/test', '{"to":"x@y.example","eventType":"fax.lost"}', 400, 'EVENT_TYPE_UNKNOWN', 'eventType'],
      ['DELETE', `/messages/a.example.com/${enc}`, undefined, 200, undefined, undefined],
      ['DELETE', `/messages/a.example.com/${enc}`, undefined, 409, 'MESSAGE_NOT_DISCARDABLE', 'eventId'],
      ['POST', `/messages/a.example.com/${enc}/retry`, '{}', 409, 'MESSAGE_NOT_RETRYABLE', 'eventId'],
    ];
    for (const [method, p, body, status, code, field] of cases) {
      const r = await send(method, p, { ...(body !== undefined && { body }) });
      expect([r.status, r.json?.code, r.json?.field], `${method} ${p}: ${r.text.slice(0, 200)}`).to.deep.equal([status, code, field]);
    }
  });
});
