import { expect } from 'chai';
import { activate, type EmailNotifyPlugin } from '../../src';
import { FakeHost, type Emitted } from '../helpers/fake-host';
import { tenantConfig, voicemail } from '../helpers/events';
import { FaultServer, refusedPort, type FaultOptions } from '../helpers/fault-servers';
import { TestSmtp, testCa } from '../helpers/smtp';

const HEALTHY = 'ok.example.com';
const SICK = 'sick.example.com';
const OUTCOMES = ['email.delivered', 'email.deferred', 'email.failed'];

interface Fault {
  name: string;
  /** A fault server, or a refused port. */
  server: () => Promise<FaultServer | number>;
  outcome: 'email.deferred' | 'email.failed';
  reason: RegExp;
  /** The sick server answers slower than the healthy one: the healthy mail must be out first. */
  slow?: boolean;
}

const FAULTS: Fault[] = [
  { name: 'a blackhole (accepts TCP, never greets)', server: () => FaultServer.blackhole(), outcome: 'email.deferred', reason: /^SMTP_TIMEOUT\b.*Greeting never received/, slow: true },
  { name: 'a refused port', server: () => refusedPort(), outcome: 'email.deferred', reason: /^SMTP_CONNECT\b.*ECONNREFUSED/ },
  { name: 'a tarpit (one byte a second)', server: () => FaultServer.tarpit(), outcome: 'email.deferred', reason: /^SMTP_TIMEOUT: no final reply within 3000 ms/, slow: true },
  { name: '421 on connect', server: () => FaultServer.busy421(), outcome: 'email.deferred', reason: /^SMTP_TEMPORARY \(CONN\): 421 / },
  { name: '4xx on RCPT', server: () => faulty({ rcpt: { [`alice@${SICK}`]: 450 } }), outcome: 'email.deferred', reason: new RegExp(`^alice@${SICK}: SMTP_TEMPORARY \\(RCPT TO\\): 450 `) },
  { name: '5xx on RCPT', server: () => faulty({ rcpt: { [`alice@${SICK}`]: 550 } }), outcome: 'email.failed', reason: new RegExp(`^alice@${SICK}: SMTP_PERMANENT \\(RCPT TO\\): 550 `) },
  { name: 'a connection dropped mid-DATA', server: () => faulty({ dropMidData: true }), outcome: 'email.deferred', reason: /^SMTP_CONNECT\b.*Connection closed unexpectedly/ },
  { name: 'a TLS handshake answered with garbage', server: () => faulty({ starttls: 'garbage' }), outcome: 'email.deferred', reason: /^SMTP_TLS\b/ },
  { name: 'a TLS handshake cut by the server', server: () => faulty({ starttls: 'close' }), outcome: 'email.deferred', reason: /^SMTP_TLS\b/ },
];

function faulty(o: FaultOptions): Promise<FaultServer> {
  return FaultServer.start({ cert: testCa().issue(), ...o });
}

/** Two tenants: the healthy one with comfortable timeouts, the sick one with small ones; retries slow enough to count. */
export function twoTenantConfig(healthyPort: number, sickPort: number, delivery: Record<string, unknown> = {}) {
  const c = tenantConfig(testCa().cert, { [HEALTHY]: { port: healthyPort }, [SICK]: { port: sickPort } }, {
    delivery: { retry: { initialDelayMs: 2000, maxDelayMs: 4000, maxAgeMs: 600_000 }, messageTimeoutMs: 3000, shutdownTimeoutMs: 200, ...delivery },
  });
  Object.assign(c.tenants[SICK].smtp, { connectionTimeoutMs: 1000, greetingTimeoutMs: 1500, socketTimeoutMs: 1500 });
  return c;
}

const firstOutcome = (em: Emitted[], tenant: string) => em.findIndex((e) => OUTCOMES.includes(e.type) && e.payload.tenant === tenant);

describe('isolation: a sick tenant server never delays a healthy tenant', function () {
  this.timeout(20_000);
  let healthy: TestSmtp;
  let sick: FaultServer | number;
  let host: FakeHost;
  let plugin: EmailNotifyPlugin | undefined;

  beforeEach(async () => {
    healthy = await TestSmtp.start({ ca: testCa() });
  });

  afterEach(async () => {
    await plugin?.deactivate();
    plugin = undefined;
    await healthy.close();
    if (sick instanceof FaultServer) await sick.close();
    host?.cleanup();
  });

  for (const f of FAULTS) {
    it(`${f.name}: healthy mail goes out, the sick mail is ${f.outcome === 'email.failed' ? 'failed' : 'deferred'} as classified`, async () => {
      sick = await f.server();
      const sickPort = typeof sick === 'number' ? sick : sick.port;
      host = new FakeHost(twoTenantConfig(healthy.port, sickPort));
      plugin = await activate(host.context());
      const ill = voicemail(SICK);
      const well = voicemail(HEALTHY);
      // The sick tenant's mail goes first, so it holds its session while the healthy one is sent.
      await host.send(ill);
      await host.send(well);

      await host.until((em) => em.some((e) => e.type === 'email.delivered' && e.payload.eventId === well.id));
      await host.until((em) => firstOutcome(em, SICK) >= 0);
      const em = host.emitted;
      const first = em[firstOutcome(em, SICK)]!;
      expect(first.type).to.equal(f.outcome);
      expect(first.payload.eventId).to.equal(ill.id);
      expect(first.payload.reason).to.match(f.reason);
      expect(first.payload.attempts).to.equal(1);
      if (f.slow) {
        expect(em.findIndex((e) => e.type === 'email.delivered' && e.payload.eventId === well.id), 'healthy delivered before the sick outcome').to.be.lessThan(firstOutcome(em, SICK));
      }
      expect(healthy.mails).to.have.length(1);
      expect(healthy.mails[0]!.to).to.deep.equal([`alice@${HEALTHY}`]);
      expect((await plugin.lookup(well.id))!.state).to.equal('delivered');
      // Temporary failures stay queued for a retry; a 5xx is kept as a dead letter.
      expect((await plugin.lookup(ill.id))!.state).to.equal(f.outcome === 'email.failed' ? 'failed' : 'queued');
      if (sick instanceof FaultServer) {
        expect(sick.connections, 'one attempt, one connection').to.equal(1);
        expect(sick.mails).to.have.length(0);
      }
      const status = (await plugin.status()).tenants.find((t) => t.tenant === SICK);
      if (f.outcome === 'email.deferred' && !/RCPT/.test(f.name)) expect(status, 'server-level trouble holds the tenant').to.include({ held: true });
    });
  }

  it('a dropped mid-DATA attempt is retried and delivered once the server recovers (same Message-ID)', async () => {
    const server = await faulty({ dropMidData: true });
    sick = server;
    host = new FakeHost(twoTenantConfig(healthy.port, server.port, { retry: { initialDelayMs: 100, maxDelayMs: 300, maxAgeMs: 600_000 } }));
    plugin = await activate(host.context());
    const ill = voicemail(SICK);
    await host.send(ill);
    await host.until((em) => em.some((e) => e.type === 'email.deferred' && e.payload.eventId === ill.id));
    server.opts.dropMidData = false;
    await host.until((em) => em.some((e) => e.type === 'email.delivered' && e.payload.eventId === ill.id));
    const d = host.of('email.delivered', ill.id)[0]!;
    expect(d.payload.attempts).to.be.greaterThan(1);
    expect(server.mails).to.have.length(1);
    expect(server.mails[0]!.messageId).to.equal(d.payload.messageId);
    expect(server.tlsUpgrades, 'a fresh STARTTLS for every attempt').to.equal(server.connections);
  });
});
