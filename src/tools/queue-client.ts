import * as http from 'node:http';
import * as https from 'node:https';
import type { MessageDetail, MessagesQuery, MessageSummary, OpsStatus, RefusalRecord, TestSendResult } from '../ops';

/** A coded failure of a queue command: the host's own `{code, message, field}`, or the CLI's (CLI_USAGE, HOST_UNREACHABLE). */
export class CommandError extends Error {
  override readonly name = 'CommandError';
  readonly code: string;
  readonly field?: string;
  /** The HTTP status the host answered with, when it answered. */
  readonly status?: number;

  constructor(code: string, message: string, o: { field?: string; status?: number } = {}) {
    super(message);
    this.code = code;
    if (o.field !== undefined) this.field = o.field;
    if (o.status !== undefined) this.status = o.status;
  }

  toJSON(): { code: string; message: string; field?: string } {
    return { code: this.code, message: this.message, ...(this.field !== undefined && { field: this.field }) };
  }
}

/** Where the queue commands read and act: a running host's HTTP API, or (read-only) a stopped host's spool. */
export interface QueueSource {
  readonly where: string;
  messages(q: MessagesQuery): Promise<MessageSummary[]>;
  /** Rejects MESSAGE_NOT_FOUND. */
  message(tenant: string, eventId: string): Promise<MessageDetail>;
  refusals(q: { tenant?: string; limit?: number }): Promise<RefusalRecord[]>;
  status(): Promise<OpsStatus>;
  retry(tenant: string, eventId: string): Promise<MessageSummary>;
  discard(tenant: string, eventId: string): Promise<MessageSummary>;
  flush(tenant: string): Promise<{ tenant: string; retried: number }>;
  retryFailed(tenant: string, since: string): Promise<{ tenant: string; retried: number }>;
  testSend(tenant: string, to: string, eventType?: string): Promise<TestSendResult>;
  close(): Promise<void>;
}

export interface HttpSourceOptions {
  /** The host's base URL. @default http://127.0.0.1:8787 */
  url: string;
  token?: string;
  /** A PEM CA to trust for an https URL (the host's own certificate authority). */
  ca?: string;
  /** Per request. @default 30_000 ms (a test-send waits for a whole SMTP session) */
  timeoutMs?: number;
}

const seg = (s: string) => encodeURIComponent(s);
const query = (q: object) => new URLSearchParams(Object.entries(q).flatMap(([k, v]): [string, string][] => (v === undefined ? [] : [[k, String(v)]])));

/** The queue through a running reference host's HTTP API (the bearer token in every request). */
export class HttpQueueSource implements QueueSource {
  readonly #o: HttpSourceOptions;
  readonly #base: URL;
  readonly where: string;

  constructor(o: HttpSourceOptions) {
    this.#o = o;
    let base: URL;
    try {
      base = new URL(o.url);
    } catch {
      throw new CommandError('CLI_USAGE', `--url: expected an http:// or https:// URL, got ${JSON.stringify(o.url)}`, { field: '--url' });
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new CommandError('CLI_USAGE', `--url: expected an http:// or https:// URL, got ${JSON.stringify(o.url)}`, { field: '--url' });
    this.#base = base;
    this.where = base.origin;
  }

  async messages(q: MessagesQuery): Promise<MessageSummary[]> {
    const qs = query(q);
    return ((await this.#call('GET', `/messages${qs.size ? `?${qs}` : ''}`)) as { messages: MessageSummary[] }).messages;
  }

  async message(tenant: string, eventId: string): Promise<MessageDetail> {
    return (await this.#call('GET', `/messages/${seg(tenant)}/${seg(eventId)}`)) as MessageDetail;
  }

  async refusals(q: { tenant?: string; limit?: number }): Promise<RefusalRecord[]> {
    const qs = query(q);
    return ((await this.#call('GET', `/refusals${qs.size ? `?${qs}` : ''}`)) as { refusals: RefusalRecord[] }).refusals;
  }

  async status(): Promise<OpsStatus> {
    return (await this.#call('GET', '/status')) as OpsStatus;
  }

  async retry(tenant: string, eventId: string): Promise<MessageSummary> {
    return (await this.#call('POST', `/messages/${seg(tenant)}/${seg(eventId)}/retry`, {})) as MessageSummary;
  }

  async discard(tenant: string, eventId: string): Promise<MessageSummary> {
    return (await this.#call('DELETE', `/messages/${seg(tenant)}/${seg(eventId)}`)) as MessageSummary;
  }

  async flush(tenant: string): Promise<{ tenant: string; retried: number }> {
    return (await this.#call('POST', `/tenants/${seg(tenant)}/flush`, {})) as { tenant: string; retried: number };
  }

  async retryFailed(tenant: string, since: string): Promise<{ tenant: string; retried: number }> {
    return (await this.#call('POST', `/tenants/${seg(tenant)}/retry-failed`, { since })) as { tenant: string; retried: number };
  }

  async testSend(tenant: string, to: string, eventType?: string): Promise<TestSendResult> {
    return (await this.#call('POST', `/tenants/${seg(tenant)}/test`, { to, ...(eventType !== undefined && { eventType }) })) as TestSendResult;
  }

  async close(): Promise<void> {}

  #call(method: string, path: string, body?: object): Promise<unknown> {
    const url = new URL(this.#base.pathname.replace(/\/$/, '') + path, this.#base);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const lib = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = lib.request(
        url,
        {
          method,
          agent: false,
          timeout: this.#o.timeoutMs ?? 30_000,
          headers: {
            accept: 'application/json',
            ...(this.#o.token !== undefined && { authorization: `Bearer ${this.#o.token}` }),
            ...(payload !== undefined && { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) }),
          },
          ...(this.#o.ca !== undefined && { ca: this.#o.ca }),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let json: { code?: unknown; message?: unknown; field?: unknown } | undefined;
            try {
              json = JSON.parse(text);
            } catch {
              json = undefined;
            }
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300 && json !== undefined) return resolve(json);
            if (typeof json?.code === 'string') {
              const hint = json.code === 'HTTP_UNAUTHORIZED' ? ' (give --token-file FILE or set PBX_NOTIFY_TOKEN)' : '';
              return reject(new CommandError(json.code, `${String(json.message ?? '')}${hint}`, { status, ...(typeof json.field === 'string' && { field: json.field }) }));
            }
            reject(new CommandError('HOST_UNREACHABLE', `${method} ${url.pathname}: HTTP ${status} without a coded JSON answer: is ${this.where} a pbx-email-notify host?`, { status }));
          });
        },
      );
      req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer within ${this.#o.timeoutMs ?? 30_000} ms`), { code: 'ETIMEDOUT' })));
      req.on('error', (e: NodeJS.ErrnoException) =>
        reject(new CommandError('HOST_UNREACHABLE', `no answer from ${this.where} (${e.code ?? e.message}): is the host running? Read-only commands (list, show, refusals, status) can read a stopped host's spool with --data DIR`)),
      );
      req.end(payload);
    });
  }
}
