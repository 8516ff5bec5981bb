import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';

export interface HttpResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: any;
}

export interface RequestOptions {
  method?: string;
  path?: string;
  /** Sent exactly as given (Host and Origin included, which fetch() would not let us set). */
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** https with this CA. */
  ca?: string;
  host?: string;
}

/** One HTTP request on its own connection, with full control of the headers. */
export function request(port: number, o: RequestOptions = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const lib = o.ca ? https : http;
    const req = lib.request(
      { host: o.host ?? '127.0.0.1', port, method: o.method ?? 'GET', path: o.path ?? '/', headers: o.headers ?? {}, agent: false, ...(o.ca && { ca: o.ca, servername: 'localhost' }), timeout: 15_000 },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (text += c));
        res.on('end', () => {
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode!, headers: res.headers, text, json });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end(o.body);
  });
}

/** True once `text` holds a whole response (headers and content-length bytes of body). */
function complete(text: string): boolean {
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return false;
  const len = /\r\ncontent-length: *(\d+)/i.exec(text.slice(0, end));
  return len !== null && Buffer.byteLength(text.slice(end + 4)) >= Number(len[1]);
}

/** Writes bytes on a raw TCP connection and returns the server's answer: once a whole response arrived, the server closed, or `idleMs` passed without data. */
export function raw(port: number, bytes: string, idleMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(bytes));
    let out = '';
    let timer: NodeJS.Timeout | undefined;
    const done = () => {
      clearTimeout(timer);
      s.destroy();
      resolve(out);
    };
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(done, idleMs);
    };
    s.setEncoding('utf8');
    s.on('data', (c: string) => {
      out += c;
      if (complete(out)) done();
      else arm();
    });
    s.on('close', done);
    s.on('error', (e) => (out ? done() : reject(e)));
    arm();
  });
}

/** The status code and JSON body of a raw HTTP/1.1 response text. */
export function parseRaw(text: string): { status: number; json: any } {
  const m = /^HTTP\/1\.1 (\d{3}) [^\r\n]*\r\n[\s\S]*?\r\n\r\n([\s\S]*)$/.exec(text);
  if (!m) throw new Error(`not an HTTP response: ${JSON.stringify(text.slice(0, 200))}`);
  return { status: Number(m[1]), json: JSON.parse(m[2]!) };
}
