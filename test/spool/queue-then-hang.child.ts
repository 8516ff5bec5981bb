/**
 * Child process for the crash test: activates against the config and dataDir in argv, queues
 * the events given there, prints `QUEUED` once every handler resolved, then keeps running
 * until the parent kills it with SIGKILL.
 */
import { activate } from '../../src';
import { FakeHost } from '../helpers/fake-host';

async function main(): Promise<void> {
  const { config, dataDir, events } = JSON.parse(process.argv[2]!) as { config: unknown; dataDir: string; events: Record<string, unknown>[] };
  const host = new FakeHost(config, dataDir);
  await activate(host.context());
  for (const e of events) await host.send(e);
  process.stdout.write('QUEUED\n');
  setInterval(() => undefined, 60_000);
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exitCode = 1;
});
