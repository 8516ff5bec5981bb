/**
 * A PBX host in its own process, for crash tests: activates the plugin on a dataDir, hands it
 * events and reports on stdout, one line each:
 *   READY              the plugin is active
 *   ACK <eventId>      the handler resolved (the event is durably queued)
 *   DELIVERED <eventId>
 *   DRAINED            (drain mode) nothing is queued any more; the plugin is deactivated and the process exits on its own
 * Run with `node -r ts-node/register/transpile-only test/helpers/crash-child.ts` and CRASH_OPTS (JSON, ChildOptions).
 */
import { activate } from '../../src';
import { FakeHost } from './fake-host';
import { tenantConfig, voicemail } from './events';

export interface ChildOptions {
  dataDir: string;
  port: number;
  /** The test CA's certificate (PEM), trusted for STARTTLS. */
  ca: string;
  tenant: string;
  /** Events `${prefix}-0` … `${prefix}-${count - 1}` are sent, `parallel` at a time. */
  prefix: string;
  count: number;
  parallel: number;
  /** Each sender pauses up to this long (random) between events, so a kill lands mid-intake with handlers in flight. */
  paceMs?: number;
  /** Exit once everything queued is delivered. */
  drain: boolean;
}

async function main(): Promise<void> {
  const o = JSON.parse(process.env.CRASH_OPTS ?? '{}') as ChildOptions;
  // Plaintext (security none, explicit) keeps the test fast; TLS is not what a crash test is about.
  const config = tenantConfig(o.ca, { [o.tenant]: { port: o.port, security: 'none' } }, {
    delivery: { retry: { initialDelayMs: 100, maxDelayMs: 400, maxAgeMs: 600_000 }, concurrency: { perTenant: 16, global: 32 }, messageTimeoutMs: 8000, shutdownTimeoutMs: 300 },
  });
  const host = new FakeHost(config, o.dataDir);
  const out = (line: string) => process.stdout.write(`${line}\n`);
  const ctx = host.context();
  const emit = ctx.emit!;
  const plugin = await activate({
    ...ctx,
    emit: (type, payload) => {
      if (type === 'email.delivered') out(`DELIVERED ${String(payload.eventId)}`);
      emit(type, payload);
    },
  });
  out('READY');
  let next = 0;
  const worker = async () => {
    while (next < o.count) {
      const id = `${o.prefix}-${next++}`;
      await host.send(voicemail(o.tenant, { id }));
      out(`ACK ${id}`);
      if (o.paceMs) await new Promise((r) => setTimeout(r, Math.random() * o.paceMs!));
    }
  };
  await Promise.all(Array.from({ length: o.parallel }, worker));
  if (!o.drain) return; // killed from outside
  while ((await plugin.status()).counts.queued > 0) await new Promise((r) => setTimeout(r, 50));
  await plugin.deactivate();
  out('DRAINED');
}

main().catch((e) => {
  process.stderr.write(`crash-child failed: ${(e as Error).stack}\n`);
  process.exit(1);
});
