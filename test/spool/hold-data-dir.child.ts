/**
 * Child process for the lock tests: activates the plugin on the dataDir in argv. Prints `READY`
 * and keeps running (until SIGKILL or SIGTERM) when it got the directory; prints
 * `REFUSED <json error>` and exits 3 when activate() rejected.
 */
import { activate } from '../../src';
import { FakeHost } from '../helpers/fake-host';

async function main(): Promise<void> {
  const { config, dataDir } = JSON.parse(process.argv[2]!) as { config: unknown; dataDir: string };
  const host = new FakeHost(config, dataDir);
  let plugin;
  try {
    plugin = await activate(host.context());
  } catch (e) {
    process.stdout.write(`REFUSED ${JSON.stringify({ code: (e as { code?: string }).code, message: (e as Error).message })}\n`);
    process.exit(3);
  }
  process.stdout.write('READY\n');
  process.on('SIGTERM', () => void plugin.deactivate().then(() => process.exit(0)));
  setInterval(() => undefined, 60_000);
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exit(1);
});
