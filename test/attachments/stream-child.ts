// Child process of streaming.test.ts: sends a 50 MB attachment through sendOnce to a sink SMTP
// server in this process and prints how far resident memory rose above its level before the send.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type * as net from 'node:net';
import { SMTPServer } from 'smtp-server';
import { sendOnce, type OutgoingMail } from '../../src/delivery/smtp-transport';
import { TestCa } from '../../src/host/demo/test-ca';

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stream-'));
  const big = path.join(dir, 'big.wav');
  const size = Number(process.argv[2] ?? 50) * 1024 * 1024;
  const fd = fs.openSync(big, 'w');
  const chunk = crypto.randomBytes(1024 * 1024);
  for (let n = 0; n < size; n += chunk.length) fs.writeSync(fd, chunk);
  fs.closeSync(fd);
  const small = path.join(dir, 'small.wav');
  fs.writeFileSync(small, chunk);

  const ca = new TestCa();
  const cert = ca.issue();
  let received = 0;
  const server = new SMTPServer({
    key: cert.key,
    cert: cert.cert,
    authOptional: true,
    disabledCommands: ['AUTH'],
    logger: false,
    size: 200 * 1024 * 1024,
    onData(stream, _s, cb) {
      stream.on('data', (c: Buffer) => (received += c.length));
      stream.on('end', () => cb());
    },
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.server.address() as net.AddressInfo).port;
  const smtp = { host: '127.0.0.1', port, security: 'starttls' as const, tls: { ca: ca.cert, servername: 'localhost' } };
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const dkim = { domainName: 'a.example', keySelector: 's', privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string };
  const tempDir = fs.mkdtempSync(path.join(dir, 'tmp-'));
  // The control passes nodemailer a Buffer instead of a path, which OutgoingMail does not allow: hence the cast.
  const mail = (file: string, buffered = false): OutgoingMail => ({
    from: 'pbx@a.example', to: [{ name: '', address: 'x@a.example' }], envelopeFrom: 'pbx@a.example', envelopeTo: ['x@a.example'],
    subject: 'big', text: 't', html: '<p>t</p>', messageId: `<${crypto.randomUUID()}@a.example>`, date: new Date(), headers: {},
    attachments: [buffered ? ({ filename: 'v.wav', contentType: 'audio/wav', content: fs.readFileSync(file) } as unknown as OutgoingMail['attachments'][0]) : { filename: 'v.wav', contentType: 'audio/wav', path: file }],
  });

  const out: Record<string, number> = { fileMB: size / 1048576 };
  // `buffered` is the control: the same file read whole into memory first, as the plugin must not.
  for (const variant of ['plain', 'dkim', 'buffered'] as const) {
    const ctx = variant === 'dkim' ? { dkim, tempDir } : {};
    await sendOnce(smtp, mail(small), new AbortController().signal, ctx); // warm-up
    (global as { gc?: () => void }).gc?.();
    const base = process.memoryUsage().rss;
    let peak = base;
    const t = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 2);
    const before = received;
    await sendOnce(smtp, mail(big, variant === 'buffered'), new AbortController().signal, ctx);
    clearInterval(t);
    peak = Math.max(peak, process.memoryUsage().rss);
    out[`${variant}GrowthMB`] = Math.round(((peak - base) / 1048576) * 10) / 10;
    out[`${variant}ReceivedMB`] = Math.round(((received - before) / 1048576) * 10) / 10;
  }
  server.close();
  fs.rmSync(dir, { recursive: true, force: true });
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
