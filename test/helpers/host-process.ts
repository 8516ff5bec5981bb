import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import type { Harness } from './harness';
import { jsonLines, readyLine } from './json-lines';
import { waitFor } from './wait';

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

/** A running reference host process, ready: its stdio so far, HTTP port, token file, and its exit. */
export interface HostProcess {
  child: ChildProcessWithoutNullStreams;
  io: { err: string; out: string };
  port: number;
  /** The token file its ready line names; undefined when the token came from $PBX_NOTIFY_TOKEN. */
  tokenFile: string | undefined;
  exited: Promise<unknown>;
}

/**
 * Starts main.js (dist build) with `args` (`--config …`) and waits for its JSON ready line; the caller
 * kills it. `shell` runs before it (`ulimit -n 256`); PBX_NOTIFY_TOKEN is cleared unless `env` sets it.
 */
export async function startHostProcess(args: string[], o: { env?: NodeJS.ProcessEnv; shell?: string } = {}): Promise<HostProcess> {
  if (!fs.existsSync(main)) throw new Error(`${main} is missing: build first (npm test does)`);
  const cmd = o.shell ? (['/bin/sh', ['-c', `${o.shell} && exec "$0" "$@"`, process.execPath, main, ...args]] as const) : ([process.execPath, [main, ...args]] as const);
  const child = spawn(cmd[0], [...cmd[1]], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, PBX_NOTIFY_TOKEN: '', ...o.env } });
  const io = { err: '', out: '' };
  child.stderr.on('data', (c) => (io.err += c));
  child.stdout.on('data', (c) => (io.out += c));
  const exited = new Promise((r) => child.once('exit', r));
  try {
    const m = await waitFor(
      () => {
        if (child.exitCode !== null) expect.fail(`the host exited before it was ready: ${io.err}`);
        return readyLine(io.err);
      },
      { what: 'the host to say it is ready', timeoutMs: 30_000, detail: () => io.err },
    );
    expect(m.url).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);
    return { child, io, port: Number(new URL(m.url).port), tokenFile: m.token.file, exited };
  } catch (e) {
    child.kill('SIGKILL');
    await exited;
    throw e;
  }
}
