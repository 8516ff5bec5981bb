import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { HostLog } from '../../host-api';
import { isWildcard } from '../listen-address';
import { ReferenceHost } from '../reference-host';
import { startBlackhole, startCaptureServer, type CapturedMail } from './capture-smtp';
import { writeFaxPdf, writeToneWav } from './samples';
import { TestCa } from './test-ca';
import { packageRoot } from '../../util/package-root';

export interface DemoOptions {
  pluginDir: string;
  /** Where the demo's spool lives; emptied first so every run starts the same. */
  dataDir: string;
  outbox: string;
  httpPort: number;
  /** @default '127.0.0.1' */
  httpHost?: string;
  allowHosts?: readonly string[];
  /** The HTTP bearer token. @default a new random one for this run */
  httpToken?: string;
  log: HostLog;
  out: NodeJS.WritableStream;
}

export interface DemoRun {
  host: ReferenceHost;
  /** Stops the host and the demo's mail servers. */
  stop(): Promise<void>;
}

const LIVE = 'acme.example.com';
const DEAD = 'globex.example.com';

/**
 * The embedded default of `npm start`: two demo tenants, one with a working STARTTLS server
 * that writes what it receives under outbox/, one whose server accepts connections and never
 * answers. Sample events go in through the HTTP intake; the table shows that the live tenant's
 * mail arrives while the dead one's is deferred, and nobody waits for anybody.
 */
export async function runDemo(o: DemoOptions): Promise<DemoRun> {
  fs.rmSync(o.dataDir, { recursive: true, force: true });
  fs.rmSync(o.outbox, { recursive: true, force: true });
  const files = path.join(o.dataDir, 'pbx-files');
  writeToneWav(path.join(files, 'vm-0001.wav'));
  writeFaxPdf(path.join(files, 'fax-0001.pdf'));

  const ca = new TestCa('pbx-email-notify demo CA');
  const captured: CapturedMail[] = [];
  const live = await startCaptureServer(LIVE, ca.issue({ hosts: ['localhost', '127.0.0.1'] }), o.outbox, (m) => captured.push(m));
  const dead = await startBlackhole();
  const smtp = (port: number) => ({ host: '127.0.0.1', port, security: 'starttls', tls: { ca: ca.cert, servername: 'localhost' }, connectionTimeoutMs: 2000, greetingTimeoutMs: 2000 });
  const config = {
    attachmentRoots: [files],
    delivery: { retry: { initialDelayMs: 30_000, maxDelayMs: 600_000 } },
    defaults: { language: 'en', timeZone: 'America/New_York' },
    tenants: {
      [LIVE]: { from: 'Acme PBX <pbx@acme.example.com>', smtp: smtp(live.port) },
      [DEAD]: { from: 'Globex PBX <pbx@globex.example.com>', smtp: smtp(dead.port) },
    },
  };
  const outcomes = new Map<string, { type: string; detail: string }>();
  let changed: () => void = () => undefined;
  const host = await ReferenceHost.start({
    pluginDir: o.pluginDir,
    config,
    dataDir: path.join(o.dataDir, 'plugin'),
    httpPort: o.httpPort,
    ...(o.httpHost !== undefined && { httpHost: o.httpHost }),
    ...(o.allowHosts && { allowHosts: o.allowHosts }),
    httpToken: o.httpToken ?? crypto.randomBytes(24).toString('base64url'),
    log: o.log,
    onEmit: (type, p) => {
      outcomes.set(String(p.eventId), { type, detail: type === 'email.delivered' ? (p.to as string[]).join(', ') : String(p.reason) });
      changed();
    },
  });

  const events = sampleEvents(files);
  const at = o.httpHost === undefined || isWildcard(o.httpHost) ? '127.0.0.1' : o.httpHost.includes(':') ? `[${o.httpHost}]` : o.httpHost;
  const url = `http://${at}:${host.httpPort}/events`;
  o.out.write(`\nReference PBX host listening on ${url}\nSending ${events.length} sample events (and one bad one) through it...\n\n`);
  const answers: string[] = [];
  for (const e of [...events, { ...events[0]!, id: 'bad-1', data: { ...events[0]!.data, recipient: { extension: '1', email: ['not-an-address'] } } }]) {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${host.httpToken}` }, body: JSON.stringify(e) });
    const body = (await res.json()) as { code?: string; field?: string };
    answers.push(`  POST ${e.type.padEnd(18)} ${e.tenant.padEnd(19)} -> ${res.status}${body.code ? ` ${body.code} ${body.field}` : ''}`);
  }
  o.out.write(answers.join('\n') + '\n\n');

  await new Promise<void>((resolve) => {
    const t = setTimeout(resolve, 15_000);
    changed = () => {
      // The live tenant's mail all settled, and the dead tenant's first attempt failed (the rest of its queue is held).
      const settled = (tenant: string, all: boolean) => events.filter((e) => e.tenant === tenant)[all ? 'every' : 'some']((e) => outcomes.has(e.id));
      if (settled(LIVE, true) && settled(DEAD, false)) (clearTimeout(t), resolve());
    };
    changed();
  });

  const rows = events.map((e) => {
    const r = outcomes.get(e.id);
    const mail = captured.find((m) => m.to.includes((e.data.recipient as { email: string[] }).email[0]!) && m.tenant === e.tenant && !('used' in m && m.used));
    if (mail) Object.assign(mail, { used: true });
    const where = r?.type === 'email.delivered' && mail ? path.relative(process.cwd(), mail.eml) : (r?.detail ?? 'pending');
    return [e.type, e.tenant, r ? r.type.replace('email.', '') : 'queued', r ? where : 'tenant held after its server failed; retried after backoff'];
  });
  o.out.write(table(['event', 'tenant', 'outcome', 'where / why'], rows) + '\n');
  o.out.write(`\n${captured.length} mails written under ${path.relative(process.cwd(), o.outbox)}/ (.eml and .html).\n`);
  o.out.write(`${DEAD}'s server never answers: its mail stays spooled and is retried with backoff, and it delayed nobody.\n`);
  return {
    host,
    stop: async () => {
      await host.stop();
      await Promise.all([live.close(), dead.close()]);
    },
  };
}

/** The demo's events (examples/demo-events.json), for the two tenants, their files under `files`. */
function sampleEvents(files: string) {
  const at = new Date().toISOString();
  const spec = JSON.parse(fs.readFileSync(path.join(packageRoot(), 'examples', 'demo-events.json'), 'utf8')) as { events: { type: string; tenant: 'live' | 'dead'; data: Record<string, unknown> }[] };
  return spec.events.map((e) => {
    const data: Record<string, unknown> = { ...e.data };
    for (const [k, v] of Object.entries(data)) {
      if (v && typeof v === 'object' && typeof (v as { path?: unknown }).path === 'string') data[k] = { ...v, path: path.join(files, (v as { path: string }).path) };
    }
    return { id: crypto.randomUUID(), type: e.type, tenant: e.tenant === 'dead' ? DEAD : LIVE, occurredAt: at, data };
  });
}

function table(head: string[], rows: string[][]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => Math.min(r[i]!.length, 70))));
  const line = (r: string[]) => r.map((c, i) => (c.length > 70 ? c.slice(0, 67) + '...' : c).padEnd(w[i]!)).join('  ');
  return [line(head), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line)].map((l) => l.trimEnd()).join('\n');
}
