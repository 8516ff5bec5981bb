/**
 * A PBX host in its own process for the conversion crash test: activates the plugin on a dataDir
 * (media conversions paused `pauseMs` after their first bytes), optionally sends one voicemail with
 * `wav`, and reports on stdout: READY, ACK <eventId>, DELIVERED <eventId>, and with `drain`,
 * STATS <json> once nothing is queued (then it deactivates and exits on its own).
 * Run with `node -r ts-node/register/transpile-only test/media/convert-child.ts` and CHILD_OPTS (JSON).
 */
import { EmailNotifyPlugin } from '../../src/plugin/plugin';
import { FakeHost } from '../helpers/fake-host';
import { tenantConfig, voicemail } from '../helpers/events';

interface Options {
  dataDir: string;
  root: string;
  port: number;
  ca: string;
  tenant: string;
  eventId: string;
  wav?: string;
  pauseMs: number;
  drain: boolean;
}

async function main(): Promise<void> {
  const o = JSON.parse(process.env.CHILD_OPTS ?? '{}') as Options;
  const config = tenantConfig(o.ca, { [o.tenant]: { port: o.port, security: 'none' } }, {
    attachmentRoots: [o.root],
    delivery: { retry: { initialDelayMs: 100, maxDelayMs: 400, maxAgeMs: 600_000 }, messageTimeoutMs: 120_000, shutdownTimeoutMs: 300 },
  });
  config.tenants[o.tenant].attachments = { conversionTimeoutMs: 120_000 };
  const host = new FakeHost(config, o.dataDir);
  const out = (line: string) => process.stdout.write(`${line}\n`);
  const ctx = host.context();
  const emit = ctx.emit!;
  const plugin = await EmailNotifyPlugin.activate(
    {
      ...ctx,
      emit: (type, payload) => {
        if (type === 'email.delivered') out(`DELIVERED ${String(payload.eventId)}`);
        emit(type, payload);
      },
    },
    { mediaPauseMs: o.pauseMs },
  );
  out('READY');
  if (o.wav) {
    await host.send(voicemail(o.tenant, { id: o.eventId }, { recording: { path: o.wav, contentType: 'audio/wav' } }));
    out(`ACK ${o.eventId}`);
  }
  if (!o.drain) return; // killed from outside
  while ((await plugin.status()).counts.queued > 0) await new Promise((r) => setTimeout(r, 50));
  out(`STATS ${JSON.stringify(plugin.mediaStats())}`);
  await plugin.deactivate();
}

main().catch((e) => {
  process.stderr.write(`convert-child failed: ${(e as Error).stack}\n`);
  process.exit(1);
});
