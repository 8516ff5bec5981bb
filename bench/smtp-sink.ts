/**
 * A minimal, fast SMTP sink for benchmarks, run as its own child process (bench/lib/sink.ts
 * starts it). It greets at once (unlike smtp-server, which waits 100 ms), speaks just enough
 * ESMTP for nodemailer (EHLO/HELO, STARTTLS with a real certificate, MAIL, RCPT, DATA, RSET,
 * NOOP, QUIT) and throws the mail away, counting it.
 *
 * Listeners are described by the parent over IPC: `sink` (the above), optionally with
 * `replyDelayMs` (every reply after the greeting is held that long, a simulated WAN round trip),
 * `blackhole` (accepts TCP, never says a word), and `hold` (a sink that, once holding, takes
 * the whole message and never answers the end of DATA, counting it as `held`; `{ cmd: 'hold',
 * name, pass }` answers `pass` more messages, then holds; `pass: null` never holds again, and
 * sessions already held stay unanswered).
 */
import * as net from 'node:net';
import * as tls from 'node:tls';

export interface ListenerSpec {
  name: string;
  mode: 'sink' | 'blackhole' | 'hold';
  replyDelayMs?: number;
}

export interface SinkStart {
  key: string;
  cert: string;
  listeners: ListenerSpec[];
}

export interface SinkCounts {
  [name: string]: { connections: number; handshakes: number; messages: number; held: number };
}

const EHLO_PLAIN = '250-sink.invalid\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250-SIZE 52428800\r\n250 STARTTLS\r\n';
const EHLO_TLS = '250-sink.invalid\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE 52428800\r\n';

/** Per `hold` listener: how many more messages are answered before the end of DATA goes unanswered (null: all). */
const passing = new Map<string, number | null>();

function serve(spec: ListenerSpec, ctx: tls.SecureContext, counts: SinkCounts[string], sockets: Set<net.Socket>): net.Server {
  return net.createServer((raw) => {
    counts.connections++;
    sockets.add(raw);
    raw.on('close', () => sockets.delete(raw));
    raw.on('error', () => undefined);
    if (spec.mode === 'blackhole') return;
    session(raw, ctx, counts, spec.replyDelayMs ?? 0, spec.mode === 'hold' ? () => holds(spec.name) : () => false);
  });
}

function holds(name: string): boolean {
  const n = passing.get(name);
  if (n === null || n === undefined) return false;
  if (n > 0) passing.set(name, n - 1);
  return n === 0;
}

function session(raw: net.Socket, ctx: tls.SecureContext, counts: SinkCounts[string], delay: number, hold: () => boolean): void {
  let sock: net.Socket = raw;
  let secure = false;
  let buf = '';
  let inData = false;
  let paused = false;
  // Replies to pipelined commands go out in one write, as a real server's would.
  let out = '';
  const reply = (s: string) => void (out += s);
  const flush = (after?: () => void) => {
    const s = out;
    out = '';
    if (!s && !after) return;
    const go = () => {
      if (s && !sock.destroyed) sock.write(s);
      after?.();
    };
    if (delay > 0) setTimeout(go, delay);
    else go();
  };
  const onData = (chunk: Buffer) => {
    buf += chunk.toString('latin1');
    drain();
    flush();
  };
  const drain = () => {
    while (!paused) {
      if (inData) {
        const end = buf.indexOf('\r\n.\r\n');
        if (end < 0) {
          // keep only a tail long enough to hold a split terminator
          if (buf.length > 8) buf = buf.slice(-8);
          return;
        }
        buf = buf.slice(end + 5);
        inData = false;
        if (hold()) {
          counts.held++;
          paused = true; // the session stays open, in DATA, until the client goes away
          return;
        }
        counts.messages++;
        reply('250 2.0.0 queued\r\n');
        continue;
      }
      const nl = buf.indexOf('\r\n');
      if (nl < 0) return;
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 2);
      const verb = line.slice(0, 4).toUpperCase();
      switch (verb) {
        case 'EHLO':
          reply(secure ? EHLO_TLS : EHLO_PLAIN);
          break;
        case 'HELO':
          reply('250 sink.invalid\r\n');
          break;
        case 'STAR': {
          if (secure) {
            reply('503 5.5.1 already secure\r\n');
            break;
          }
          paused = true;
          sock.removeListener('data', onData);
          reply('220 2.0.0 go ahead\r\n');
          flush(() => {
            const t = new tls.TLSSocket(raw, { isServer: true, secureContext: ctx });
            t.on('error', () => raw.destroy());
            t.once('secure', () => counts.handshakes++);
            sock = t;
            secure = true;
            buf = '';
            paused = false;
            t.on('data', onData);
          });
          return;
        }
        case 'DATA':
          inData = true;
          buf = '\r\n' + buf; // the body starts at a line start: an empty body is ".\r\n"
          reply('354 go ahead\r\n');
          break;
        case 'QUIT':
          reply('221 2.0.0 bye\r\n');
          flush(() => sock.end());
          return;
        case 'MAIL':
        case 'RCPT':
        case 'RSET':
        case 'NOOP':
          reply('250 2.0.0 ok\r\n');
          break;
        default:
          reply('502 5.5.2 not implemented\r\n');
      }
    }
  };
  raw.setNoDelay(true);
  raw.on('data', onData);
  raw.write('220 sink.invalid ESMTP\r\n');
}

async function main(start: SinkStart): Promise<void> {
  const ctx = tls.createSecureContext({ key: start.key, cert: start.cert, minVersion: 'TLSv1.2' });
  const counts: SinkCounts = {};
  const sockets = new Set<net.Socket>();
  const ports: Record<string, number> = {};
  for (const spec of start.listeners) {
    counts[spec.name] = { connections: 0, handshakes: 0, messages: 0, held: 0 };
    if (spec.mode === 'hold') passing.set(spec.name, 0);
    const server = serve(spec, ctx, counts[spec.name]!, sockets);
    server.maxConnections = 10_000;
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', 1024, r));
    ports[spec.name] = (server.address() as net.AddressInfo).port;
  }
  process.on('message', (m: { cmd: string; name?: string; pass?: number | null }) => {
    if (m.cmd === 'counts') process.send!({ counts });
    if (m.cmd === 'hold') passing.set(m.name!, m.pass!);
    if (m.cmd === 'drop') for (const s of sockets) s.destroy();
  });
  process.send!({ ports });
}

process.once('message', (m: SinkStart) => void main(m));
process.on('disconnect', () => process.exit(0));
