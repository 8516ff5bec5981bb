import type * as net from 'node:net';
import type * as tls from 'node:tls';
import { SMTPServer, type SMTPServerOptions, type SMTPServerSession } from 'smtp-server';
import { simpleParser, type ParsedMail } from 'mailparser';
import { TestCa } from '../../src/host/demo/test-ca';

export interface ReceivedMail {
  raw: Buffer;
  parsed: ParsedMail;
  from: string;
  to: string[];
  /** TLS state of the session that carried it. */
  secure: boolean;
  /** The server's TLSSocket.isSessionReused() for the connection that carried it (false without TLS). */
  sessionReused: boolean;
  connection: number;
}

export interface TestSmtpOptions {
  ca: TestCa;
  /** starttls (default): STARTTLS offered; tls: implicit TLS; none: no TLS at all. */
  mode?: 'starttls' | 'tls' | 'none';
  auth?: { user: string; pass: string };
  /** Answer RCPT TO for an address with this error (e.g. { 'x@y': 550 }). */
  rcptErrors?: Record<string, number>;
  cert?: { key: string; cert: string };
  extra?: Partial<SMTPServerOptions>;
}

let sharedCa: TestCa | undefined;
/** One CA per test process: generating keys is the slow part. */
export function testCa(): TestCa {
  return (sharedCa ??= new TestCa());
}

/** A real SMTP server on loopback that records every message and every TLS handshake. */
export class TestSmtp {
  readonly mails: ReceivedMail[] = [];
  connections = 0;
  handshakes = 0;
  reusedSessions = 0;
  authFailures = 0;
  #server!: SMTPServer;
  #waiters: (() => void)[] = [];
  port = 0;

  static async start(opts: TestSmtpOptions): Promise<TestSmtp> {
    const s = new TestSmtp();
    await s.#listen(opts);
    return s;
  }

  async #listen(o: TestSmtpOptions): Promise<void> {
    const mode = o.mode ?? 'starttls';
    const cert = o.cert ?? o.ca.issue();
    let conn = 0;
    this.#server = new SMTPServer({
      secure: mode === 'tls',
      disabledCommands: [...(mode === 'none' ? ['STARTTLS'] : []), ...(o.auth ? [] : ['AUTH'])],
      allowInsecureAuth: mode === 'none',
      authOptional: !o.auth,
      key: cert.key,
      cert: cert.cert,
      logger: false,
      size: 50 * 1024 * 1024,
      onConnect: (session, cb) => {
        this.connections++;
        (session as SMTPServerSession & { n?: number }).n = ++conn;
        cb();
      },
      onSecure: (socket: tls.TLSSocket | net.Socket, session, cb) => {
        this.handshakes++;
        const reused = (socket as tls.TLSSocket).isSessionReused?.() === true;
        (session as SMTPServerSession & { tlsReused?: boolean }).tlsReused = reused;
        if (reused) this.reusedSessions++;
        cb();
      },
      onAuth: (auth, _session, cb) => {
        if (o.auth && auth.username === o.auth.user && auth.password === o.auth.pass) return cb(null, { user: auth.username });
        this.authFailures++;
        const e = new Error('Invalid username or password') as Error & { responseCode: number };
        e.responseCode = 535;
        cb(e);
      },
      onRcptTo: (addr, _session, cb) => {
        const code = o.rcptErrors?.[addr.address];
        if (code) {
          const e = new Error(`${code === 550 ? 'No such user' : 'Try again later'}`) as Error & { responseCode: number };
          e.responseCode = code;
          return cb(e);
        }
        cb();
      },
      onData: (stream, session, cb) => {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', async () => {
          const raw = Buffer.concat(chunks);
          this.mails.push({
            raw,
            parsed: await simpleParser(raw),
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
            secure: session.secure,
            sessionReused: (session as SMTPServerSession & { tlsReused?: boolean }).tlsReused === true,
            connection: (session as SMTPServerSession & { n?: number }).n ?? 0,
          });
          cb();
          for (const w of this.#waiters.splice(0)) w();
        });
      },
      ...o.extra,
    });
    this.#server.on('error', () => undefined);
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.port = (this.#server.server.address() as net.AddressInfo).port;
  }

  /** Resolves once `n` messages arrived; rejects after `ms`. */
  async waitFor(n: number, ms = 20_000): Promise<ReceivedMail[]> {
    const until = Date.now() + ms;
    while (this.mails.length < n) {
      if (Date.now() > until) throw new Error(`expected ${n} messages, got ${this.mails.length}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 200);
        this.#waiters.push(() => (clearTimeout(t), r()));
      });
    }
    return this.mails;
  }

  close(): Promise<void> {
    return new Promise((r) => this.#server.close(() => r()));
  }
}
