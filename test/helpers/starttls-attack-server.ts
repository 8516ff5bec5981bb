import * as net from 'node:net';
import * as tls from 'node:tls';

/**
 * How the server treats STARTTLS:
 * - `absent`: not offered at all (a downgrade by stripping), AUTH and mail offered in plaintext;
 * - `454`: offered, answered 454 (TLS not available);
 * - `garbage`: 220, then bytes that are no TLS record;
 * - `close`: 220, then the connection closes;
 * - `pipeline`: 220 and, in the same write, plaintext that pretends to be the answer to the
 *   client's next command (the STARTTLS command-injection attack), then a real TLS upgrade;
 * - `ok`: a real TLS upgrade.
 */
export type StartTlsMode = 'absent' | '454' | 'garbage' | 'close' | 'pipeline' | 'ok';

export interface SeenLine {
  /** True when the line arrived inside TLS. */
  tls: boolean;
  line: string;
}

/**
 * A hand-written SMTP server (plain `net`, no SMTP library) for STARTTLS attacks. It records
 * every command line with whether it came inside TLS, offers AUTH PLAIN LOGIN everywhere (so a
 * client that would authenticate in plaintext can be caught), and accepts mail.
 */
export class StartTlsAttackServer {
  readonly seen: SeenLine[] = [];
  readonly mails: { tls: boolean; data: string }[] = [];
  connections = 0;
  port = 0;
  readonly #server: net.Server;
  readonly #sockets = new Set<net.Socket>();

  private constructor(readonly mode: StartTlsMode, readonly cert: { key: string; cert: string }) {
    this.#server = net.createServer((s) => this.#session(s));
  }

  static async start(mode: StartTlsMode, cert: { key: string; cert: string }): Promise<StartTlsAttackServer> {
    const s = new StartTlsAttackServer(mode, cert);
    await new Promise<void>((r) => s.#server.listen(0, '127.0.0.1', r));
    s.port = (s.#server.address() as net.AddressInfo).port;
    return s;
  }

  /** Command lines that arrived outside TLS and begin with `verb`. */
  plaintext(verb: string): string[] {
    return this.seen.filter((l) => !l.tls && l.line.toUpperCase().startsWith(verb)).map((l) => l.line);
  }

  #session(raw: net.Socket): void {
    this.connections++;
    this.#sockets.add(raw);
    raw.on('close', () => this.#sockets.delete(raw));
    raw.on('error', () => undefined);
    let sock: net.Socket | tls.TLSSocket = raw;
    let secure = false;
    let buf = '';
    let inData = false;
    let data = '';
    const write = (s: string) => sock.writable && sock.write(s);
    const onData = (chunk: Buffer) => {
      buf += chunk.toString('latin1');
      let i: number;
      while ((i = buf.indexOf('\r\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (inData) {
          if (line === '.') {
            inData = false;
            this.mails.push({ tls: secure, data });
            data = '';
            write('250 2.0.0 queued\r\n');
          } else data += `${line}\r\n`;
          continue;
        }
        this.seen.push({ tls: secure, line });
        if (command(line) === 'STARTTLS' && !secure) {
          if (this.#startTls(raw, onData, (s) => ((sock = s), (secure = true), (buf = '')))) return;
          continue;
        }
        this.#answer(line, secure, write, () => (inData = true), () => sock.end());
      }
    };
    raw.on('data', onData);
    write('220 attack.test ESMTP\r\n');
  }

  /** Handles STARTTLS per mode; true when the plaintext reader is done with this connection. */
  #startTls(raw: net.Socket, onData: (b: Buffer) => void, upgraded: (s: tls.TLSSocket) => void): boolean {
    switch (this.mode) {
      case 'absent':
        raw.write('502 5.5.1 command not implemented\r\n');
        return false;
      case '454':
        raw.write('454 4.7.0 TLS not available due to temporary reason\r\n');
        return false;
      case 'garbage':
        raw.removeListener('data', onData);
        raw.write('220 2.0.0 go ahead\r\n');
        raw.write(Buffer.from('this is not a TLS record at all\r\n'.repeat(20)));
        return true;
      case 'close':
        raw.removeListener('data', onData);
        raw.write('220 2.0.0 go ahead\r\n', () => raw.destroy());
        return true;
      case 'pipeline':
      case 'ok': {
        raw.removeListener('data', onData);
        // The injected plaintext pretends to answer the EHLO the client sends inside TLS: a client
        // that kept it would see no AUTH/size limits or, here, a 554 that kills the session.
        raw.write(this.mode === 'pipeline' ? '220 2.0.0 go ahead\r\n554 5.7.0 injected plaintext\r\n250 injected\r\n' : '220 2.0.0 go ahead\r\n');
        const t = new tls.TLSSocket(raw, { isServer: true, secureContext: tls.createSecureContext({ key: this.cert.key, cert: this.cert.cert }) });
        t.on('error', () => undefined);
        t.on('secure', () => upgraded(t));
        t.on('data', onData);
        return true;
      }
    }
  }

  #answer(line: string, secure: boolean, write: (s: string) => void, startData: () => void, end: () => void): void {
    switch (command(line)) {
      case 'EHLO':
        write(`250-attack.test\r\n${this.mode === 'absent' || secure ? '' : '250-STARTTLS\r\n'}250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n`);
        return;
      case 'HELO':
        write('250 attack.test\r\n');
        return;
      case 'AUTH':
        write('235 2.7.0 accepted\r\n');
        return;
      case 'MAIL':
      case 'RCPT':
      case 'RSET':
      case 'NOOP':
        write('250 2.1.0 ok\r\n');
        return;
      case 'DATA':
        startData();
        write('354 go ahead\r\n');
        return;
      case 'QUIT':
        write('221 bye\r\n');
        end();
        return;
      default:
        write('500 5.5.2 unrecognised\r\n');
    }
  }

  close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    return new Promise((r) => this.#server.close(() => r()));
  }
}

function command(line: string): string {
  return line.split(' ')[0]!.toUpperCase();
}
