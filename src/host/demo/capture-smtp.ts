import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import type { IssuedCert } from './test-ca';

export interface CapturedMail {
  tenant: string;
  eml: string;
  html?: string;
  subject: string;
  to: string[];
}

/**
 * A local SMTP server offering STARTTLS that writes every message it receives to
 * `outbox/<name>/NNN.eml` (and the HTML part to NNN.html). smtp-server and mailparser are
 * development dependencies, loaded only when the demo runs.
 */
export async function startCaptureServer(name: string, cert: IssuedCert, outbox: string, onMail: (m: CapturedMail) => void): Promise<{ port: number; close(): Promise<void> }> {
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { SMTPServer } = require('smtp-server') as typeof import('smtp-server');
  const { simpleParser } = require('mailparser') as typeof import('mailparser');
  const dir = path.join(outbox, name);
  fs.mkdirSync(dir, { recursive: true });
  let n = 0;
  const server = new SMTPServer({
    key: cert.key,
    cert: cert.cert,
    authOptional: true,
    disabledCommands: ['AUTH'],
    logger: false,
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', async () => {
        const raw = Buffer.concat(chunks);
        const base = path.join(dir, String(++n).padStart(3, '0'));
        fs.writeFileSync(`${base}.eml`, raw);
        const parsed = await simpleParser(raw);
        if (parsed.html) fs.writeFileSync(`${base}.html`, parsed.html);
        onMail({ tenant: name, eml: `${base}.eml`, ...(parsed.html && { html: `${base}.html` }), subject: parsed.subject ?? '', to: session.envelope.rcptTo.map((r) => r.address) });
        cb();
      });
    },
  });
  server.on('error', () => undefined);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.server.address() as net.AddressInfo).port, close: () => new Promise((r) => server.close(() => r())) };
}

/** A "dead" mail server: accepts TCP connections and never says a word. */
export async function startBlackhole(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => server.close(() => r()));
    },
  };
}
