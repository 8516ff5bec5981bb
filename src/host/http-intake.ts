import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { isPluginError, type ErrorCode } from '../errors';
import type { HostLog, PbxEvent } from '../host-api';
import type { DispatchAnswer } from './event-bus';
import { defaultHttpLimits, type HttpLimits } from './http-limits';
import { tokenMatches } from './http-token';
import { hostAllowed, hostName, type ListenAddress } from './listen-address';
import { matchRoute, parseQuery, TargetRefused, type RouteInput } from './http-router';

/** What a route answers. */
export interface HttpAnswer {
  status: number;
  /** @default 'application/json' */
  type?: string;
  body: string;
  headers?: Record<string, string>;
}

/**
 * An extra endpoint (status, preview, operations), by path; a path may have `:name` parameters
 * (`/messages/:tenant/:eventId`), which arrive percent-decoded in `input.params`. POST bodies
 * arrive checked: JSON, an object, within the size limit. A handler that throws a PluginError is
 * answered with its code (4xx, or 5xx for storage trouble).
 */
export interface HttpRoute {
  get?(req: http.IncomingMessage, input: RouteInput): Promise<HttpAnswer>;
  post?(req: http.IncomingMessage, body: Record<string, unknown>, input: RouteInput): Promise<HttpAnswer>;
  delete?(req: http.IncomingMessage, input: RouteInput): Promise<HttpAnswer>;
  /** Serve GET without the token. Only for a page that holds no data (the preview page shell). @default false */
  openGet?: boolean;
  /** The query parameters it takes; any other is refused (400 HTTP_BAD_REQUEST, field `query.<name>`). @default [] */
  query?: readonly string[];
}

export interface HttpIntakeOptions {
  listen: ListenAddress;
  /** The bearer token every endpoint but `GET /health` requires. */
  token: string;
  /** Extra names accepted in the `Host` header (a DNS name the host is reached by). */
  allowHosts?: readonly string[];
  /** PEM certificate chain and key: serve https. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  limits?: Partial<HttpLimits>;
  log: HostLog;
  /** Hands an event to the plugin; resolves once it is durably queued. */
  dispatch(event: PbxEvent): Promise<false | DispatchAnswer>;
  stopping(): boolean;
  /** GET /health answers 200 while this holds, else 503; no token, no detail. @default () => !stopping() */
  ready?(): boolean;
  routes?: Record<string, HttpRoute>;
}

// The plugin's storage failing is the server's problem (5xx, retry later), never a bad event (4xx, final).
const STATUS_OF: Partial<Record<ErrorCode, number>> = { PLUGIN_STOPPED: 503, SPOOL_FAILURE: 500, SPOOL_CORRUPT: 500, SPOOL_LOCKED: 503, MESSAGE_NOT_FOUND: 404, TENANT_UNKNOWN: 404, MESSAGE_NOT_RETRYABLE: 409, MESSAGE_NOT_DISCARDABLE: 409, HTTP_NOT_FOUND: 404 };

const BASE_HEADERS = { 'x-content-type-options': 'nosniff', 'cache-control': 'no-store' } as const;

interface Connection {
  /** Requests in progress on it. */
  busy: number;
  /** Larger is more recently used; the smallest idle one is closed first when connections run out. */
  lastUsed: number;
  /** Over the limit with nobody idle to close: its request gets 503 and the connection closes. */
  overLimit: boolean;
}

type Refusal = { status: number; code: ErrorCode; message: string; field?: string; headers?: Record<string, string> };

/**
 * The reference host's HTTP intake. `POST /events` with a JSON envelope: 202 once durably
 * queued, 400 with `code` and `field` when refused, 503 while stopping. Every endpoint but
 * `GET /health` needs `Authorization: Bearer <token>`; `Host` and `Origin` are checked against
 * DNS rebinding and cross-site requests; bodies must be JSON objects within the size limit; no
 * request, however malformed, gets anything but a coded answer.
 */
export class HttpIntake {
  readonly #server: http.Server;
  readonly #o: HttpIntakeOptions;
  readonly #limits: HttpLimits;
  readonly #scheme: 'http' | 'https';
  readonly #connections = new Map<Socket, Connection>();
  #useCounter = 0;
  #port = 0;

  constructor(o: HttpIntakeOptions) {
    this.#o = o;
    this.#limits = { ...defaultHttpLimits(), ...o.limits };
    const l = this.#limits;
    const options: http.ServerOptions = {
      headersTimeout: l.headersTimeoutMs,
      requestTimeout: l.requestTimeoutMs,
      keepAliveTimeout: l.keepAliveTimeoutMs,
      connectionsCheckingInterval: Math.min(1000, l.headersTimeoutMs),
    };
    const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => void this.#serve(req, res);
    this.#scheme = o.tls ? 'https' : 'http';
    this.#server = o.tls ? https.createServer({ ...options, cert: o.tls.cert, key: o.tls.key, handshakeTimeout: l.headersTimeoutMs }, onRequest) : http.createServer(options, onRequest);
    // A few beyond the soft limit, so a connection over it can still be told 503 instead of being dropped.
    this.#server.maxConnections = l.maxConnections + 16;
    this.#server.on(o.tls ? 'secureConnection' : 'connection', (s: Socket) => this.#admit(s));
    this.#server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => this.#clientError(err, socket));
    this.#server.on('tlsClientError', (err: Error) => o.log.debug('https handshake failed', { error: err.message }));
    this.#server.on('drop', (d: { remoteAddress?: string }) => o.log.warn('http connection dropped: too many open connections', { code: 'HTTP_OVERLOADED', remote: d?.remoteAddress, maxConnections: l.maxConnections }));
  }

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#o.listen.port, this.#o.listen.host, () => {
        this.#server.off('error', reject);
        this.#server.on('error', (e) => this.#o.log.error('http server error', { error: e.message }));
        resolve((this.#port = (this.#server.address() as AddressInfo).port));
      });
    });
  }

  /** Open connections right now (busy or idle). */
  get connections(): number {
    return this.#connections.size;
  }

  get limits(): Readonly<HttpLimits> {
    return this.#limits;
  }

  /** Stops listening, closes idle connections at once and busy ones once answered, or after `graceMs` (a client still sending a body). */
  close(graceMs = 2000): Promise<void> {
    const closed = new Promise<void>((r) => this.#server.close(() => r()));
    this.#server.closeIdleConnections();
    for (const [socket, c] of this.#connections) if (c.busy === 0) socket.destroy();
    const t = setTimeout(() => this.#server.closeAllConnections(), graceMs);
    return closed.finally(() => clearTimeout(t));
  }

  #admit(socket: Socket): void {
    const c: Connection = { busy: 0, lastUsed: ++this.#useCounter, overLimit: false };
    this.#connections.set(socket, c);
    socket.once('close', () => this.#connections.delete(socket));
    let live = 0;
    let idlest: Socket | undefined;
    let idlestUse = Infinity;
    for (const [s, other] of this.#connections) {
      if (other.overLimit) continue;
      live++;
      if (s !== socket && other.busy === 0 && other.lastUsed < idlestUse) [idlest, idlestUse] = [s, other.lastUsed];
    }
    if (live <= this.#limits.maxConnections) return;
    if (idlest) {
      this.#o.log.debug('http connection limit reached: closing the longest-idle connection', { maxConnections: this.#limits.maxConnections });
      idlest.destroy();
    } else c.overLimit = true;
  }

  #clientError(err: NodeJS.ErrnoException, socket: Socket): void {
    // A response already under way on this connection: a raw answer would corrupt it.
    if (err.code === 'ECONNRESET' || !socket.writable || (socket as { _httpMessage?: unknown })._httpMessage) {
      this.#o.log.debug('http client went away', { reason: err.code });
      return void socket.destroy();
    }
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' || err.code === 'HPE_HEADERS_TIMEOUT' ? 408 : 400;
    const code: ErrorCode = status === 408 ? 'HTTP_TIMEOUT' : 'HTTP_BAD_REQUEST';
    const message = status === 408 ? 'the request did not arrive in time' : `malformed request: ${err.message}`;
    this.#o.log.warn('http request refused', { status, code, reason: err.code, remote: socket.remoteAddress });
    const body = JSON.stringify({ code, message }) + '\n';
    socket.end(
      `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
        `x-content-type-options: nosniff\r\ncache-control: no-store\r\nconnection: close\r\n\r\n${body}`,
    );
  }

  async #serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const c = this.#connections.get(req.socket);
    if (c) {
      c.busy++;
      res.once('close', () => {
        c.busy--;
        c.lastUsed = ++this.#useCounter;
      });
    }
    try {
      const refusal = c?.overLimit
        ? { status: 503, code: 'HTTP_OVERLOADED' as const, message: `every one of the ${this.#limits.maxConnections} allowed connections is busy; retry later`, headers: { connection: 'close' } }
        : await this.#handle(req, res);
      if (refusal) this.#refuse(req, res, refusal);
    } catch (e) {
      if (req.destroyed && !res.headersSent) return void this.#o.log.debug('http client went away mid-request', { path: safePath(req.url) });
      this.#o.log.error('http request failed', { code: 'HTTP_INTERNAL', method: req.method, path: safePath(req.url), error: (e as Error)?.stack ?? String(e) });
      if (res.headersSent) return void res.destroy();
      this.#answer(res, 500, { code: 'HTTP_INTERNAL', message: 'the host failed to answer this request; see its log' });
    }
  }

  /** Answers the request, or returns why it is refused. */
  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<Refusal | undefined> {
    const target = requestTarget(req.url);
    const path = target?.path;
    if (target === undefined || path === undefined) return { status: 400, code: 'HTTP_BAD_REQUEST', message: `malformed request target ${JSON.stringify(String(req.url).slice(0, 200))}`, field: 'request-target' };
    const host = req.headers.host;
    if (!hostAllowed(host, this.#o.listen, this.#o.allowHosts ?? [])) {
      return { status: 421, code: 'HTTP_HOST_REFUSED', message: `Host ${JSON.stringify(host ?? '')} is not this host's listen address (${this.#o.listen.host}) nor a name given with --allow-host`, field: 'Host' };
    }
    const origin = req.headers.origin;
    if (origin !== undefined && !sameOrigin(origin, this.#scheme, host!)) {
      return { status: 403, code: 'HTTP_ORIGIN_REFUSED', message: `Origin ${JSON.stringify(origin)} is not ${this.#scheme}://${host}: requests from other web pages are refused`, field: 'Origin' };
    }
    const method = req.method ?? '';
    if (path === '/health') {
      if (method !== 'GET' && method !== 'HEAD') return notAllowed('/health', ['GET']);
      const ready = !this.#o.stopping() && (this.#o.ready?.() ?? true);
      return void this.#answer(res, ready ? 200 : 503, { status: ready ? 'ok' : 'unavailable' });
    }
    let found: { route: HttpRoute; params: Record<string, string> } | undefined;
    try {
      found = path === '/events' ? { route: { post: (_req, body) => this.#event(body) }, params: {} } : matchRoute(this.#o.routes ?? {}, path);
    } catch (e) {
      if (!(e instanceof TargetRefused)) throw e;
      return { status: 400, code: e.code, message: e.message, field: e.field };
    }
    const route = found?.route;
    if (!(route?.openGet && method === 'GET') && !this.#authorized(req)) {
      return {
        status: 401,
        code: 'HTTP_UNAUTHORIZED',
        message: req.headers.authorization === undefined ? 'expected an Authorization: Bearer <token> header, got none' : 'expected Authorization: Bearer <token> with this host\'s token, got another',
        field: 'Authorization',
        headers: { 'www-authenticate': 'Bearer realm="pbx-email-notify"' },
      };
    }
    if (!route) return { status: 404, code: 'HTTP_NOT_FOUND', message: `no endpoint ${path.slice(0, 200)}: POST /events, GET /status, GET /health, GET /metrics, GET /messages, GET /refusals, GET /ops, GET|POST /preview (README, "Operations")`, field: 'request-target' };
    let input: RouteInput;
    try {
      input = { params: found!.params, query: parseQuery(target.search, route.query ?? []) };
    } catch (e) {
      if (!(e instanceof TargetRefused)) throw e;
      return { status: 400, code: e.code, message: e.message, field: e.field };
    }
    const allowed = [...(route.get ? ['GET'] : []), ...(route.post ? ['POST'] : []), ...(route.delete ? ['DELETE'] : [])];
    if (method === 'GET' && route.get) return this.#coded(res, path, () => route.get!(req, input));
    if (method === 'DELETE' && route.delete) {
      if (this.#o.stopping()) return { status: 503, code: 'PLUGIN_STOPPED', message: 'the host is stopping', headers: { connection: 'close' } };
      return this.#coded(res, path, () => route.delete!(req, input));
    }
    if (method !== 'POST' || !route.post) return notAllowed(path, allowed);

    const type = String(req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/json') return { status: 415, code: 'HTTP_MEDIA_TYPE', message: `expected Content-Type: application/json, got ${JSON.stringify(req.headers['content-type'] ?? '(none)')}`, field: 'Content-Type' };
    const body = await readBody(req, this.#limits.maxBodyBytes);
    if (body === 'too-large') return { status: 413, code: 'HTTP_BODY_TOO_LARGE', message: `expected a body of at most ${this.#limits.maxBodyBytes} bytes`, field: '/' };
    let parsed: unknown;
    // An event (or a preview's) that is no JSON object is an invalid event; an operation's body, an invalid argument.
    const badBody: ErrorCode = path === '/events' || path === '/preview' ? 'EVENT_INVALID' : 'QUERY_INVALID';
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch (e) {
      return { status: 400, code: badBody, message: `expected a JSON object, got text that is not JSON: ${(e as Error).message}`, field: '/' };
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      return { status: 400, code: badBody, message: `expected a JSON object, got ${parsed === null ? 'null' : Array.isArray(parsed) ? 'an array' : typeof parsed}`, field: '/' };
    }
    if (this.#o.stopping()) return { status: 503, code: 'PLUGIN_STOPPED', message: 'the host is stopping', headers: { connection: 'close' } };
    return this.#coded(res, path, () => route.post!(req, parsed as Record<string, unknown>, input));
  }

  /** Answers with what `handler` returns, or with the code of the PluginError it throws. */
  async #coded(res: http.ServerResponse, path: string, handler: () => Promise<HttpAnswer>): Promise<undefined> {
    try {
      return this.#send(res, await handler());
    } catch (e) {
      if (!isPluginError(e)) throw e;
      const status = STATUS_OF[e.code] ?? 400;
      if (status >= 500) this.#o.log.warn('http request refused', { status, code: e.code, path: path.slice(0, 200) });
      return void this.#answer(res, status, e.toJSON());
    }
  }

  async #event(event: Record<string, unknown>): Promise<HttpAnswer> {
    const taken = await this.#o.dispatch(event as unknown as PbxEvent);
    if (!taken) return { status: 400, body: JSON.stringify({ code: 'EVENT_TYPE_UNKNOWN', field: '/type', message: `no plugin subscribed to ${JSON.stringify(event.type)}` }) };
    // A known id: where its mail is now (queued, deferred, delivered, failed …), not a second mail.
    return { status: 202, body: JSON.stringify(taken.status === 'duplicate' ? { status: 'duplicate', state: taken.state, id: event.id } : { status: 'queued', id: event.id }) };
  }

  #authorized(req: http.IncomingMessage): boolean {
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(req.headers.authorization ?? '');
    return m !== null && tokenMatches(this.#o.token, m[1]!);
  }

  #refuse(req: http.IncomingMessage, res: http.ServerResponse, r: Refusal): void {
    this.#o.log.warn('http request refused', { status: r.status, code: r.code, method: req.method, path: safePath(req.url), remote: req.socket.remoteAddress });
    this.#answer(res, r.status, { code: r.code, message: r.message, ...(r.field !== undefined && { field: r.field }) }, r.headers);
  }

  #send(res: http.ServerResponse, a: HttpAnswer): undefined {
    this.#answer(res, a.status, a.body, { ...a.headers, 'content-type': a.type ?? 'application/json' });
    return undefined;
  }

  #answer(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    if (res.headersSent) return void res.destroy();
    const text = typeof body === 'string' ? body : JSON.stringify(body) + '\n';
    res.writeHead(status, {
      'content-type': 'application/json',
      ...BASE_HEADERS,
      ...(status === 503 && { 'retry-after': '5' }),
      ...headers,
      'content-length': String(Buffer.byteLength(text)),
    });
    res.end(text);
  }
}

function notAllowed(path: string, allowed: string[]): Refusal {
  return { status: 405, code: 'HTTP_NOT_FOUND', message: `${path} takes ${allowed.join(' and ')}`, headers: { allow: allowed.join(', ') } };
}

/** The raw (not decoded) path and query of an origin-form (`/a?b`) or absolute-form (`http://h/a`) request target; undefined when malformed. */
function requestTarget(target: string | undefined): { path: string; search: string } | undefined {
  if (!target) return undefined;
  if (target.startsWith('/')) {
    const noFragment = target.split('#')[0]!;
    const q = noFragment.indexOf('?');
    return q < 0 ? { path: noFragment, search: '' } : { path: noFragment.slice(0, q), search: noFragment.slice(q + 1) };
  }
  try {
    const u = new URL(target);
    return u.protocol === 'http:' || u.protocol === 'https:' ? { path: u.pathname, search: u.search.slice(1) } : undefined;
  } catch {
    return undefined;
  }
}

function safePath(target: string | undefined): string {
  return String(target ?? '').slice(0, 200);
}

function sameOrigin(origin: string, scheme: string, host: string): boolean {
  const m = /^([a-z][a-z0-9+.-]*):\/\/([^/?#]+)$/i.exec(origin.trim());
  if (!m || m[1]!.toLowerCase() !== scheme) return false;
  const withPort = (h: string) => (/:\d+$/.test(h.replace(/^\[[^\]]*\]/, '')) ? h : `${h}:${scheme === 'https' ? 443 : 80}`);
  return hostName(m[2]!) !== undefined && withPort(m[2]!.toLowerCase()) === withPort(host.trim().toLowerCase());
}

/** The body, or 'too-large' as soon as it passes `max` (the rest is read and discarded, so the 413 reaches the client). */
function readBody(req: http.IncomingMessage, max: number): Promise<Buffer | 'too-large'> {
  return new Promise((resolve, reject) => {
    const drain = () => {
      let discarded = 0;
      req.removeAllListeners('data');
      req.on('data', (c: Buffer) => {
        discarded += c.length;
        // Past this the client is not stopping: close rather than read forever.
        if (discarded > 8 * max) req.socket.destroy();
      });
      req.resume();
      resolve('too-large');
    };
    if (Number(req.headers['content-length']) > max) return drain();
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > max) {
        chunks.length = 0;
        drain();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
