/**
 * A PBX host in its own process, for clock-jump tests run under libfaketime: activates the plugin
 * on a dataDir, queues the given events, and reports on stdout, one line each:
 *   READY                     the plugin is active
 *   ACK <eventId>             the handler resolved (durably queued)
 *   DEFERRED <eventId> <nextAttemptAt>
 *   DELIVERED <eventId> <attempts>
 *   FAILED <eventId> <attempts> <reason>
 *   WARN <message>            a warning the plugin logged
 *   CLOCK <wall ISO>          the wall clock as this process sees it
 *   DRAINED                   (drain) nothing is queued any more; deactivated, exits on its own
 * Run with `node -r ts-node/register/transpile-only test/delivery/clock-child.ts` and CLOCK_OPTS (JSON, ClockChildOptions).
 */
import { activate } from '../../src';
import { FakeHost } from '../helpers/fake-host';
import { tenantConfig, voicemail } from '../helpers/events';

export interface ClockChildOptions {
  dataDir: string;
  port: number;
  tenant: string;
  /** Event ids to queue after activation. */
  queue: string[];
  /** Exit once nothing is queued. */
  drain: boolean;
  retry: { initialDelayMs: number; maxDelayMs: number; maxAgeMs: number; authFailureDelayMs?: number };
}

async function main(): Promise<void> {
  const o = JSON.parse(process.env.CLOCK_OPTS ?? '{}') as ClockChildOptions;
  // Plaintext (security none, explicit): a test CA certificate would not be valid six days ahead.
  const config = tenantConfig('', { [o.tenant]: { port: o.port, security: 'none' } }, {
    delivery: { retry: o.retry, messageTimeoutMs: 5000, shutdownTimeoutMs: 300 },
  });
  Object.assign(config.tenants[o.tenant].smtp, { connectionTimeoutMs: 1000, greetingTimeoutMs: 1000, socketTimeoutMs: 2000 });
  delete config.tenants[o.tenant].smtp.tls;
  const host = new FakeHost(config, o.dataDir);
  const out = (line: string) => process.stdout.write(`${line.replace(/\n/g, ' ')}\n`);
  const ctx = host.context();
  const plugin = await activate({
    ...ctx,
    log: { ...ctx.log, warn: (msg, fields) => (out(`WARN ${msg}`), ctx.log.warn(msg, fields)) },
    emit: (type, p) => {
      if (type === 'email.delivered') out(`DELIVERED ${String(p.eventId)} ${String(p.attempts)}`);
      if (type === 'email.deferred') out(`DEFERRED ${String(p.eventId)} ${String(p.nextAttemptAt)}`);
      if (type === 'email.failed') out(`FAILED ${String(p.eventId)} ${String(p.attempts)} ${String(p.reason)}`);
    },
  });
  out(`CLOCK ${new Date().toISOString()}`);
  out('READY');
  for (const id of o.queue) {
    await host.send(voicemail(o.tenant, { id }));
    out(`ACK ${id}`);
  }
  if (!o.drain) return; // killed from outside
  while ((await plugin.status()).counts.queued > 0) await new Promise((r) => setTimeout(r, 50));
  await plugin.deactivate();
  out('DRAINED');
}

main().catch((e) => {
  process.stderr.write(`clock-child failed: ${(e as Error).stack}\n`);
  process.exit(1);
});
