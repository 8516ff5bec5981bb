import * as net from 'node:net';

/** What one connection to a RecordingSmtp saw, in order: client lines, replies sent, and how it ended. */
export interface Transcript {
  /** `C: <line>` for each client line, `S: <code>` for each reply, `client closed` once the client's FIN arrived. */
  events: string[];
  /** The argument of EHLO (or HELO). */
  ehlo?: string;
  /** Resolves once the connection is fully closed. */
  closed: Promise<void>;
}

export interface RecordingOptions {
  /** RCPT TO replies per address (default 250). */
  rcpt?: Record<string, number>;
  /** Delay before the 221 reply to QUIT, in milliseconds; `never` to leave QUIT unanswered. Default 0. */
  quitReply?: number | 'never';
}

/**
 * A plaintext SMTP server on loopback written against RFC 5321 with nothing but `net`: it records
 * every session's transcript (EHLO argument, commands, replies, and whether the client closed its
 * side before or after the reply to QUIT). It never closes a connection itself except after
 * answering QUIT, so a client that hangs up without QUIT shows as `client closed` with no QUIT.
 */
export class RecordingSmtp {
  readonly sessions: Transcript[] = [];
  readonly opts: RecordingOptions;
  port = 0;
  readonly #server: net.Server;
  readonly #sockets = new Set<net.Socket>();
  readonly #timers = new Set<NodeJS.Timeout>();

  private constructor(opts: RecordingOptions) {
    this.opts = opts;
    this.#server = net.createServer((s) => this.#accept(s));
  }

  static async start(opts: RecordingOptions = {}): Promise<RecordingSmtp> {
    const s = new RecordingSmtp(opts);
    await new Promise<void>((r) => s.#server.listen(0, '127.0.0.1', r));
    s.port = (s.#server.address() as net.AddressInfo).port;
    return s;
  }

  /** Resolves once `n` sessions have closed; rejects after `ms`. */
  async closedSessions(n: number, ms = 10_000): Promise<Transcript[]> {
    const until = Date.now() + ms;
    while (this.sessions.length < n) {
      if (Date.now() > until) throw new Error(`expected ${n} sessions, got ${this.sessions.length}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`sessions still open after ${ms} ms`)), Math.max(0, until - Date.now()))));
    try {
      await Promise.race([Promise.all(this.sessions.slice(0, n).map((s) => s.closed)), deadline]);
    } finally {
      clearTimeout(timer);
    }
    return this.sessions.slice(0, n);
  }

  #accept(socket: net.Socket): void {
    this.#sockets.add(socket);
    let onClosed!: () => void;
    const t: Transcript = { events: [], closed: new Promise<void>((r) => (onClosed = r)) };
    this.sessions.push(t);
    const reply = (code: number, text: string) => {
      if (socket.destroyed || !socket.writable) return;
      t.events.push(`S: ${code}`);
      socket.write(`${code} ${text}\r\n`);
    };
    const later = (ms: number, fn: () => void) => {
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        fn();
      }, ms);
      this.#timers.add(timer);
    };
    socket.on('error', () => undefined);
    socket.on('end', () => {
      t.events.push('client closed');
      socket.end();
    });
    socket.on('close', () => {
      this.#sockets.delete(socket);
      onClosed();
    });
    let buf = '';
    let inData = false;
    socket.on('data', (chunk: Buffer) => {
      buf += chunk.toString('latin1');
      for (let i; (i = buf.indexOf('\r\n')) >= 0; ) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (inData) {
          if (line === '.') {
            inData = false;
            t.events.push('C: <message>');
            reply(250, '2.0.0 queued');
          }
          continue;
        }
        t.events.push(`C: ${line}`);
        const [verb = '', ...rest] = line.split(' ');
        switch (verb.toUpperCase()) {
          case 'EHLO':
          case 'HELO':
            t.ehlo = rest.join(' ');
            if (verb.toUpperCase() === 'EHLO') {
              t.events.push('S: 250');
              socket.write('250-recording.test\r\n250 8BITMIME\r\n');
            } else reply(250, 'recording.test');
            break;
          case 'MAIL':
            reply(250, '2.1.0 ok');
            break;
          case 'RCPT': {
            const addr = /<([^>]*)>/.exec(line)?.[1] ?? '';
            const code = this.opts.rcpt?.[addr] ?? 250;
            reply(code, code < 400 ? '2.1.5 ok' : code < 500 ? '4.2.0 try later' : '5.1.1 no such user');
            break;
          }
          case 'DATA':
            inData = true;
            reply(354, 'go ahead');
            break;
          case 'RSET':
          case 'NOOP':
            reply(250, 'ok');
            break;
          case 'QUIT': {
            const delay = this.opts.quitReply ?? 0;
            if (delay === 'never') break;
            later(delay, () => {
              reply(221, '2.0.0 bye');
              socket.end();
            });
            break;
          }
          default:
            reply(502, '5.5.1 not implemented');
        }
      }
    });
    socket.write('220 recording.test ESMTP\r\n');
    t.events.push('S: 220');
  }

  async close(): Promise<void> {
    for (const t of this.#timers) clearTimeout(t);
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((r) => this.#server.close(() => r()));
  }
}
