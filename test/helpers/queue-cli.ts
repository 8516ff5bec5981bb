import { spawn } from 'node:child_process';
import * as path from 'node:path';

import * as fs from 'node:fs';

const script = path.join(__dirname, '../../scripts/queue.js');
const built = path.join(__dirname, '../../dist/src/tools/queue-cli.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON (for --json), or undefined. */
  json: any;
}

/**
 * Runs the queue CLI as an operator would, in a child process (asynchronously: the host it talks to
 * may be running in this very process): the dist build (npm test builds it; 0.1 s a run instead of
 * ts-node's 0.6 s), or with `launcher: 'script'` through scripts/queue.js exactly as `npm run queue`.
 * `PBX_NOTIFY_TOKEN` is cleared unless `env` sets it.
 */
export function queueCli(args: string[], env: NodeJS.ProcessEnv = {}, o: { launcher?: 'dist' | 'script'; timeoutMs?: number } = {}): Promise<CliResult> {
  const timeoutMs = o.timeoutMs ?? 30_000;
  const entry = o.launcher === 'script' ? script : built;
  if (entry === built && !fs.existsSync(built)) return Promise.reject(new Error(`${built} is missing: build first (npm test does)`));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [entry, ...args], { env: { ...process.env, PBX_NOTIFY_TOKEN: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c));
    child.stderr.on('data', (c: Buffer) => (stderr += c));
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`queue ${args.join(' ')} did not finish within ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(t);
      let json: unknown;
      try {
        json = JSON.parse(stdout);
      } catch {
        json = undefined;
      }
      resolve({ code, stdout, stderr, json });
    });
  });
}
