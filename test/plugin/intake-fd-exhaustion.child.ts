/**
 * Child process for the EMFILE test, run under a low `ulimit -n`: activates on the dataDir in
 * argv, uses up every free file descriptor, sends `event` (whose recording exists), prints the
 * outcome as `FIRST <json>`, frees the descriptors, sends it again and prints `SECOND <json>`.
 */
import * as fs from 'node:fs';
import { activate } from '../../src';
import { FakeHost } from '../helpers/fake-host';

const outcome = (p: Promise<unknown>) => p.then(() => ({ ok: true }), (e: { code?: string; message: string; field?: string }) => ({ ok: false, code: e.code, field: e.field, message: e.message }));

async function main(): Promise<void> {
  const { config, dataDir, event } = JSON.parse(process.argv[2]!) as { config: unknown; dataDir: string; event: Record<string, unknown> };
  const host = new FakeHost(config, dataDir);
  const plugin = await activate(host.context());
  const fillers: number[] = [];
  let exhausted = '';
  for (;;) {
    try {
      fillers.push(fs.openSync('/dev/null', 'r'));
    } catch (e) {
      exhausted = (e as NodeJS.ErrnoException).code ?? 'error';
      break;
    }
  }
  const first = await outcome(host.send(event));
  for (const fd of fillers) fs.closeSync(fd);
  process.stdout.write(`FIRST ${JSON.stringify({ ...first, exhausted, fillers: fillers.length })}\n`);
  process.stdout.write(`SECOND ${JSON.stringify(await outcome(host.send(event)))}\n`);
  await plugin.deactivate();
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exit(1);
});
