/**
 * Child process for the liveness test: activates with the config and dataDir in argv, sends the
 * event, waits until the plugin reports an outcome for it (`deliver`) or only until it is queued
 * (`stuck`, the server never answers), deactivates, prints DONE and returns. It never calls
 * process.exit: the process ends only if deactivate() released every handle.
 */
import { waitFor } from '../helpers/wait';
import { activate } from '../../src';
import { FakeHost } from '../helpers/fake-host';

async function main(): Promise<void> {
  const { config, dataDir, event, mode } = JSON.parse(process.argv[2]!) as { config: unknown; dataDir: string; event: { id: string }; mode: 'deliver' | 'stuck' };
  const host = new FakeHost(config, dataDir);
  const plugin = await activate(host.context());
  await host.send(event as never);
  if (mode === 'deliver') await host.until((em) => em.some((e) => e.type === 'email.delivered' && e.payload.eventId === event.id));
  else await waitFor(async () => (await plugin.status()).active > 0, { what: 'a session in flight', timeoutMs: 20_000 });
  await plugin.deactivate();
  await plugin.deactivate();
  process.stdout.write(`DONE ${JSON.stringify(host.emitted.map((e) => e.type))}\n`);
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exitCode = 1;
});
