import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import type { Harness } from './harness';
import { jsonLines, readyLine } from './json-lines';

const main = path.join(__dirname, '../../dist/src/host/main.js');

/**
 * Starts the reference host (dist build) with `config` on `dataDir` and expects it to refuse to
 * start: it exits 1, by itself, before its ready line, having logged (JSON lines only) why with
 * its code. Returns its stderr. The child is killed at the harness's dispose if it is still running.
 */
export async function expectHostRefusesToStart(h: Harness, config: unknown, dataDir: string, configFile: string): Promise<string> {
  if (!fs.existsSync(main)) throw new Error(`${main} is missing: build first (npm test does)`);
  fs.writeFileSync(configFile, JSON.stringify(config));
  const child = spawn(process.execPath, [main, '--config', configFile, '--port', '0', '--no-stdin', '--data', dataDir], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('exit', (code, signal) => r({ code, signal })));
  h.defer(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  let err = '';
  // Whichever comes first: the exit, or the ready line (which must not come).
  const ready = new Promise<'ready'>((r) => child.stderr.on('data', (b: Buffer) => ((err += b), readyLine(err) && r('ready'))));
  expect(await Promise.race([exited, ready]), err).to.deep.equal({ code: 1, signal: null });
  expect(readyLine(err)).to.equal(undefined);
  const last = jsonLines(err).at(-1)!;
  expect([last.level, last.msg.startsWith('not started: '), typeof last.code], err).to.deep.equal(['error', true, 'string']);
  return err;
}
