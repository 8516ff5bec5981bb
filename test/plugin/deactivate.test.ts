import { waitFor } from '../helpers/wait';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expect } from 'chai';
import { activate } from '../../src';
import { FakeHost } from '../helpers/fake-host';
import { missed, tenantConfig } from '../helpers/events';
import { FaultServer } from '../helpers/fault-servers';
import { TestSmtp, testCa } from '../helpers/smtp';

const T = 'a.example.com';
/** Liveness bound for a child to end on its own; not a timing assertion. */
const EXIT_BOUND_MS = 15_000;

interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Whether the process ended on its own within EXIT_BOUND_MS of printing DONE. */
  exitedOnItsOwn: boolean;
}

/** Runs activate-deliver-exit.child.ts and waits for it to end, killing it only past the bound. */
function runChild(arg: Record<string, unknown>): Promise<ChildResult> {
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', path.join(__dirname, 'activate-deliver-exit.child.ts'), JSON.stringify(arg)], {
    cwd: path.join(__dirname, '../..'),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let killer: NodeJS.Timeout | undefined;
  let killed = false;
  child.stdout.on('data', (b: Buffer) => {
    stdout += b;
    if (stdout.includes('DONE') && !killer) {
      killer = setTimeout(() => {
        killed = true;
        child.kill('SIGKILL');
      }, EXIT_BOUND_MS);
    }
  });
  child.stderr.on('data', (b: Buffer) => (stderr += b));
  // Startup (ts-node compiling) is not bounded by the liveness bound; the mocha timeout covers it.
  return new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      clearTimeout(killer);
      resolve({ code, signal, stdout, stderr, exitedOnItsOwn: !killed });
    });
  });
}

describe('deactivate(): idempotent, releases every handle', () => {
  const cleanup: (() => unknown)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  it('is idempotent: concurrent and repeated calls resolve, the subscriptions are gone', async () => {
    const server = await TestSmtp.start({ ca: testCa() });
    cleanup.push(() => server.close());
    const host = new FakeHost(tenantConfig(testCa().cert, { [T]: { port: server.port } }));
    cleanup.push(() => host.cleanup());
    const plugin = await activate(host.context());
    expect(host.handlers.size).to.equal(3);
    expect(host.configListeners.size).to.equal(1);
    await host.send(missed(T));
    await Promise.all([plugin.deactivate(), plugin.deactivate(), plugin.deactivate()]);
    await plugin.deactivate();
    expect(host.handlers.size).to.equal(0);
    expect(host.configListeners.size).to.equal(0);
  });

  it('an event whose handler started before deactivate() is queued durably; one sent after it is refused', async () => {
    const hole = await FaultServer.blackhole();
    cleanup.push(() => hole.close());
    const host = new FakeHost(tenantConfig(testCa().cert, { [T]: { port: hole.port } }));
    cleanup.push(() => host.cleanup());
    const plugin = await activate(host.context());
    const early = missed(T);
    const late = missed(T);
    const accepted = host.send(early);
    const stopping = plugin.deactivate();
    const refused = plugin.handle(late).then(
      () => 'accepted',
      (e: { code?: string }) => e.code,
    );
    await accepted; // resolves: the event was taken before the stop
    expect(await refused).to.equal('PLUGIN_STOPPED');
    await stopping;
    const again = new FakeHost(host.config, host.dataDir);
    const p2 = await activate(again.context());
    expect((await p2.lookup(early.id))!.state).to.equal('queued');
    expect((await p2.lookup(late.id))).to.equal(undefined);
    await p2.deactivate();
  });

  it('abandons a session the server never answers and leaves the mail queued for the next run', async function () {
    this.timeout(60_000);
    const hole = await FaultServer.blackhole();
    cleanup.push(() => hole.close());
    const host = new FakeHost(tenantConfig(testCa().cert, { [T]: { port: hole.port } }));
    cleanup.push(() => host.cleanup());
    const plugin = await activate(host.context());
    const e = missed(T);
    await host.send(e);
    await waitFor(async () => (await plugin.status()).active > 0 && hole.open > 0, { what: 'a session in flight and open at the server', timeoutMs: 20_000 });
    await plugin.deactivate();
    expect(host.of('email.delivered')).to.deep.equal([]);
    // The socket the plugin opened was closed by deactivate.
    await host.until(() => hole.open === 0);
    const again = new FakeHost(host.config, host.dataDir);
    const p2 = await activate(again.context());
    const rec = (await p2.lookup(e.id))!;
    expect(rec.state).to.equal('queued');
    expect(rec.attempts).to.equal(0); // abandoned at shutdown: no attempt counted
    await p2.deactivate();
  });

  it('a child process that activates, delivers one mail and deactivates exits on its own with code 0', async function () {
    this.timeout(90_000);
    const server = await TestSmtp.start({ ca: testCa() });
    cleanup.push(() => server.close());
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pbx-exit-'));
    cleanup.push(() => fs.rmSync(dataDir, { recursive: true, force: true }));
    const event = missed(T);
    const r = await runChild({ config: tenantConfig(testCa().cert, { [T]: { port: server.port } }), dataDir, event, mode: 'deliver' });
    expect(r.stderr).to.equal('');
    expect(r.stdout).to.contain('DONE ["email.delivered"]');
    expect(r.exitedOnItsOwn, 'the child did not exit on its own: a handle was left open').to.equal(true);
    expect(r.code).to.equal(0);
    expect(server.mails).to.have.length(1);
    expect(server.mails[0]!.parsed.headers.get('x-pbx-event-id')).to.equal(event.id);
  });

  it('a child whose only session hangs on a silent server still exits on its own after deactivate', async function () {
    this.timeout(90_000);
    const hole = await FaultServer.blackhole();
    cleanup.push(() => hole.close());
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pbx-exit-'));
    cleanup.push(() => fs.rmSync(dataDir, { recursive: true, force: true }));
    const config = tenantConfig(testCa().cert, { [T]: { port: hole.port } });
    (config.tenants[T] as { smtp: Record<string, unknown> }).smtp.greetingTimeoutMs = 60_000;
    (config.delivery as Record<string, unknown>).messageTimeoutMs = 60_000;
    const r = await runChild({ config, dataDir, event: missed(T), mode: 'stuck' });
    expect(r.stderr).to.equal('');
    expect(r.stdout).to.contain('DONE []');
    expect(r.exitedOnItsOwn, 'the child did not exit on its own: a handle was left open').to.equal(true);
    expect(r.code).to.equal(0);
  });
});
