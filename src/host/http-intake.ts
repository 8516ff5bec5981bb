import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { isPluginError } from '../errors';
import type { PbxEvent } from '../host-api';

export interface HttpIntakeOptions {
  port: number;
  host?: string;
  /** Hands an event to the plugin; resolves once it is durably queued. */
  dispatch(event: PbxEvent): Promise<boolean>;
  stopping(): boolean;
  /** Extra GET/POST routes (status, preview), by path. */
  routes?: Record<string, (req: http.IncomingMessage, body: string) => Promise<{ status: number; type?: string; body: string }>>;
}

const MAX_BODY = 1024 * 1024;

// The plugin's storage failing is the server's problem (5xx, retry later), never a bad event (4xx, final).
const STATUS_OF: Record<string, number> = { PLUGIN_STOPPED: 503, SPOOL_FAILURE: 500, SPOOL_CORRUPT: 500 };

/**
 * POST /events with a JSON envelope: 202 once durably queued, 400 with `code` and `field` when
 * refused, 503 while stopping.
 */
export class HttpIntake {
  readonly #server: http.Server;
  readonly #o: HttpIntakeOptions;

  constructor(o: HttpIntakeOptions) {
    this.#o = o;
    this.#server = http.createServer((req, res) => void this.#serve(req, res));
  }

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#o.port, this.#o.host ?? '127.0.0.1', () => resolve((this.#server.address() as AddressInfo).port));
    });
  }

  close(): Promise<void> {
    this.#server.closeIdleConnections();
    return new Promise((r) => this.#server.close(() => r()));
  }

  async #serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const answer = (status: number, body: unknown, type = 'application/json') => {
      res.writeHead(status, { 'content-type': type, ...(status === 503 && { 'retry-after': '5', connection: 'close' }) });
      res.end(typeof body === 'string' ? body : JSON.stringify(body) + '\n');
    };
    const url = new URL(req.url ?? '/', 'http://host');
    let body: string;
    try {
      body = await readBody(req);
    } catch {
      return answer(413, { code: 'EVENT_INVALID', field: '/', message: `body over ${MAX_BODY} bytes` });
    }
    const route = this.#o.routes?.[url.pathname];
    if (route) {
      const r = await route(req, body).catch((e) => ({ status: isPluginError(e) ? 400 : 500, body: JSON.stringify(isPluginError(e) ? e : { message: String(e) }) }));
      return answer(r.status, r.body, (r as { type?: string }).type ?? 'application/json');
    }
    if (url.pathname !== '/events') return answer(404, { message: 'POST /events, GET /status' });
    if (req.method !== 'POST') return answer(405, { message: 'POST a JSON event envelope' });
    if (this.#o.stopping()) return answer(503, { code: 'PLUGIN_STOPPED', message: 'the host is stopping' });
    let event: PbxEvent;
    try {
      event = JSON.parse(body);
    } catch (e) {
      return answer(400, { code: 'EVENT_INVALID', field: '/', message: `not JSON: ${(e as Error).message}` });
    }
    try {
      const taken = await this.#o.dispatch(event);
      if (!taken) return answer(400, { code: 'EVENT_TYPE_UNKNOWN', field: '/type', message: `no plugin subscribed to ${JSON.stringify(event?.type)}` });
      return answer(202, { status: 'queued', id: event.id });
    } catch (e) {
      if (isPluginError(e)) return answer(STATUS_OF[e.code] ?? 400, e.toJSON());
      return answer(500, { message: (e as Error).message });
    }
  }
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error('too large'));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
