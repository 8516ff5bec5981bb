import * as net from 'node:net';
import * as tls from 'node:tls';
import type { Duplex } from 'node:stream';

/**
 * Hand-written misbehaving SMTP servers on loopback (plain `net`/`tls`, no SMTP library), each
 * counting its connections so a test can assert that a sick server was not hammered.
 */
export interface FaultOptions {
  /** How the server greets: never (a blackhole), 421 and close, or a normal 220. Default ok. */
  greet?: 'never' | '421' | 'ok';
  /** After the greeting, answer EHLO with one byte a second, forever (a tarpit). */
  tarpit?: boolean;
  /**
   * STARTTLS: none (not offered), ok (a real upgrade with `cert`), garbage (220, then bytes that
   * are no TLS record), close (220, then the connection closes during the handshake). Default ok.
   */
  starttls?: 'none' | 'ok' | 'garbage' | 'close';
  cert?: { key: string; cert: string };
  /** Per-address RCPT replies (e.g. { 'x@y': 550 }); mutable while the server runs. */
  rcpt?: Record<string, number>;
  /** Advertise AUTH and refuse every attempt with 535. */
  refuseAuth?: boolean;
  /** Cut the connection once DATA has started arriving, before the final dot is answered. */
  dropMidData?: boolean;
  /** Mail transactions in progress, counted across every server sharing this object. */
  tally?: Tally;
  /** Wait this long before accepting a message's DATA (a slow but healthy server). */
  dataReplyDelayMs?: number;
  /**
   * Withhold the reply to DATA of every message after the first `holdDataAfter` this server
   * received, until releaseData(): transactions that stay open for as long as the test needs
   * (a cap can then be counted exactly, not sampled). Mutable while the server runs.
   */
  holdDataAfter?: number;
}

/**
 * Mail transactions in progress (MAIL FROM to the reply to DATA) and the most at once. Unlike
 * open connections this never lags the client: it cannot start the next transaction before it
 * has read the reply that ends this one.
 */
export interface Tally {
  now: number;
  max: number;
}

export interface FaultMail {
  from: string;
  to: string[];
  raw: string;
  messageId: string | undefined;
}

export class FaultServer {
  /** Every TCP connection accepted. */
  connections = 0;
  /** Connections open right now, and the most ever open at once. */
  open = 0;
  maxOpen = 0;
  authAttempts = 0;
  dataStarted = 0;
  tlsUpgrades = 0;
  /** This server's own transactions in progress. */
  readonly busy: Tally = { now: 0, max: 0 };
  readonly mails: FaultMail[] = [];
  readonly opts: FaultOptions;
  port = 0;
  readonly #server: net.Server;
  readonly #sockets = new Set<net.Socket>();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #heldReplies: (() => void)[] = [];

  private constructor(opts: FaultOptions) {
    this.opts = opts;
    this.#server = net.createServer((s) => this.#accept(s));
    this.#server.on('error', () => undefined);
  }

  static async start(opts: FaultOptions = {}, port = 0): Promise<FaultServer> {
    const s = new FaultServer(opts);
    await new Promise<void>((resolve, reject) => {
      s.#server.once('error', reject);
      s.#server.listen(port, '127.0.0.1', () => resolve());
    });
    s.port = (s.#server.address() as net.AddressInfo).port;
    return s;
  }

  /** Accepts TCP, never says a word. */
  static blackhole(): Promise<FaultServer> {
    return FaultServer.start({ greet: 'never' });
  }

  /** Greets, then answers EHLO one byte a second, forever. */
  static tarpit(): Promise<FaultServer> {
    return FaultServer.start({ tarpit: true });
  }

  static busy421(): Promise<FaultServer> {
    return FaultServer.start({ greet: '421' });
  }

  /** Transactions whose reply to DATA is being withheld (holdDataAfter). */
  get held(): number {
    return this.#heldReplies.length;
  }

  /** Stops withholding: answers every withheld DATA now, and later ones at once. */
  releaseData(): void {
    delete this.opts.holdDataAfter;
    for (const accept of this.#heldReplies.splice(0)) accept();
  }

  close(): Promise<void> {
    this.#heldReplies.length = 0;
    for (const t of this.#timers) clearTimeout(t);
    for (const s of this.#sockets) s.destroy();
    return new Promise((r) => this.#server.close(() => r()));
  }

  #accept(socket: net.Socket): void {
    this.connections++;
    this.open++;
    this.maxOpen = Math.max(this.maxOpen, this.open);
    this.#sockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('close', () => {
      this.open--;
      this.#sockets.delete(socket);
    });
    const greet = this.opts.greet ?? 'ok';
    if (greet === 'never') return;
    if (greet === '421') {
      socket.end('421 4.3.2 fault.test Service not available, closing channel\r\n');
      return;
    }
    socket.write('220 fault.test ESMTP\r\n');
    this.#session(socket, socket, false);
  }

  /** One SMTP dialogue over `io` (the plain socket, or the TLS socket after STARTTLS). */
  #session(io: Duplex, raw: net.Socket, secure: boolean): void {
    let buf = '';
    let inData = false;
    let mail: FaultMail = { from: '', to: [], raw: '', messageId: undefined };
    let inTransaction = false;
    const tallies = [this.busy, ...(this.opts.tally ? [this.opts.tally] : [])];
    const transaction = (on: boolean) => {
      if (on === inTransaction) return;
      inTransaction = on;
      for (const t of tallies) {
        t.now += on ? 1 : -1;
        t.max = Math.max(t.max, t.now);
      }
    };
    raw.once('close', () => transaction(false));
    const reply = (s: string) => io.write(`${s}\r\n`);
    const onData = (chunk: Buffer) => {
      buf += chunk.toString('latin1');
      for (;;) {
        if (inData) {
          if (this.opts.dropMidData) {
            raw.destroy();
            return;
          }
          const end = buf.indexOf('\r\n.\r\n');
          if (end < 0) return;
          mail.raw = buf.slice(0, end);
          mail.messageId = /^Message-ID:\s*(<[^>]+>)/im.exec(mail.raw)?.[1];
          this.mails.push(mail);
          mail = { from: '', to: [], raw: '', messageId: undefined };
          buf = buf.slice(end + 5);
          inData = false;
          const accept = () => {
            transaction(false);
            reply('250 2.0.0 queued');
          };
          if (this.opts.holdDataAfter !== undefined && this.mails.length > this.opts.holdDataAfter) {
            this.#heldReplies.push(() => {
              if (!io.destroyed) accept();
            });
          } else if (this.opts.dataReplyDelayMs) {
            const t = setTimeout(() => {
              this.#timers.delete(t);
              if (!io.destroyed) accept();
            }, this.opts.dataReplyDelayMs);
            this.#timers.add(t);
          } else accept();
          continue;
        }
        const nl = buf.indexOf('\r\n');
        if (nl < 0) return;
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 2);
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === 'EHLO' || verb === 'HELO') {
          if (this.opts.tarpit) return this.#trickle(io);
          const ext = ['250-fault.test', '250-PIPELINING', '250-8BITMIME'];
          if (!secure && (this.opts.starttls ?? 'ok') !== 'none') ext.push('250-STARTTLS');
          if (this.opts.refuseAuth) ext.push('250-AUTH PLAIN LOGIN');
          ext.push('250 SIZE 52428800');
          reply(ext.join('\r\n'));
        } else if (verb === 'STAR' && !secure && (this.opts.starttls ?? 'ok') !== 'none') {
          io.removeListener('data', onData);
          return this.#starttls(raw, reply);
        } else if (verb === 'AUTH') {
          this.authAttempts++;
          reply('535 5.7.8 Authentication credentials invalid');
        } else if (verb === 'MAIL') {
          mail.from = /<([^>]*)>/.exec(line)?.[1] ?? '';
          transaction(true);
          reply('250 2.1.0 ok');
        } else if (verb === 'RCPT') {
          const addr = /<([^>]*)>/.exec(line)?.[1] ?? '';
          const code = this.opts.rcpt?.[addr];
          if (code) reply(`${code} ${code >= 500 ? '5.1.1 no such user' : '4.2.1 try again later'}`);
          else {
            mail.to.push(addr);
            reply('250 2.1.5 ok');
          }
        } else if (verb === 'DATA') {
          this.dataStarted++;
          if (mail.to.length === 0) {
            transaction(false);
            reply('554 5.5.1 no valid recipients');
            continue;
          }
          inData = true;
          reply('354 go ahead');
        } else if (verb === 'RSET') {
          mail = { from: '', to: [], raw: '', messageId: undefined };
          transaction(false);
          reply('250 2.0.0 ok');
        } else if (verb === 'QUIT') {
          io.end('221 2.0.0 bye\r\n');
          return;
        } else if (verb === 'NOOP') {
          reply('250 2.0.0 ok');
        } else {
          reply('502 5.5.2 command not recognised');
        }
      }
    };
    io.on('data', onData);
  }

  #starttls(raw: net.Socket, reply: (s: string) => void): void {
    const mode = this.opts.starttls ?? 'ok';
    reply('220 2.0.0 ready to start TLS');
    if (mode === 'garbage') {
      // Whatever the client's ClientHello says, answer with something that is no TLS record.
      raw.once('data', () => raw.end('this is not a TLS handshake\r\n\r\n'));
      return;
    }
    if (mode === 'close') {
      raw.once('data', () => raw.destroy());
      return;
    }
    if (!this.opts.cert) throw new Error('FaultServer: starttls ok needs a cert');
    const secure = new tls.TLSSocket(raw, { isServer: true, secureContext: tls.createSecureContext({ key: this.opts.cert.key, cert: this.opts.cert.cert }) });
    secure.on('error', () => raw.destroy());
    secure.once('secure', () => {
      this.tlsUpgrades++;
      this.#session(secure, raw, true);
    });
  }

  #trickle(io: Duplex): void {
    const bytes = '250-fault.test is in no hurry at all '.repeat(100);
    let i = 0;
    const t = setInterval(() => {
      if (io.destroyed) {
        clearInterval(t);
        this.#timers.delete(t);
        return;
      }
      io.write(bytes[i++ % bytes.length]!);
    }, 1000);
    this.#timers.add(t);
  }
}

/** A loopback port nobody listens on: connecting is refused. */
export async function refusedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}
