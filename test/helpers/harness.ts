import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { activate, type EmailNotifyPlugin } from '../../src';
import { FakeHost } from './fake-host';
import { TestSmtp, testCa, type ReceivedMail, type TestSmtpOptions } from './smtp';

/**
 * One test's plugin, its FakeHost and whatever else the test must close. `dispose()` (in afterEach or
 * after) deactivates the plugin, runs the deferred closers in the order given, cleans the host, then
 * removes the temporary directories.
 */
export class Harness {
  #host: FakeHost | undefined;
  #plugin: EmailNotifyPlugin | undefined;
  readonly #closers: (() => unknown)[] = [];
  readonly #dirs: string[] = [];

  get host(): FakeHost {
    if (!this.#host) throw new Error('Harness: no host yet (call start())');
    return this.#host;
  }

  get plugin(): EmailNotifyPlugin {
    if (!this.#plugin) throw new Error('Harness: no active plugin (call start() or activate())');
    return this.#plugin;
  }

  /** A fresh FakeHost with `config`, and the plugin activated on it. */
  async start(config: unknown): Promise<EmailNotifyPlugin> {
    if (this.#host) throw new Error('Harness: start() called twice (replaceHost() swaps hosts)');
    this.#host = new FakeHost(config);
    return this.activate();
  }

  /** Activates the plugin on the current host: after deactivate(), a restart over the same data directory. */
  async activate(): Promise<EmailNotifyPlugin> {
    if (this.#plugin) throw new Error('Harness: a plugin is still active (call deactivate() first)');
    this.#plugin = await activate(this.host.context());
    return this.#plugin;
  }

  /** Deactivates the active plugin (if any); dispose() will not deactivate it again. */
  deactivate(): Promise<void> {
    const p = this.#plugin;
    this.#plugin = undefined;
    return p ? p.deactivate() : Promise.resolve();
  }

  /**
   * Deactivates the plugin and starts over on a new FakeHost with `config` (a fresh record of what is
   * emitted and logged). The old host's data directory is removed, unless `sameDataDir` carries it over.
   */
  async replaceHost(config: unknown, { sameDataDir = false } = {}): Promise<EmailNotifyPlugin> {
    await this.deactivate();
    const old = this.host;
    this.#host = sameDataDir ? new FakeHost(config, old.dataDir) : new FakeHost(config);
    if (!sameDataDir) old.cleanup();
    return this.activate();
  }

  /** Sends `event` (it must be accepted), waits for its email.delivered and returns the mail `server` received for it. */
  async deliver(server: TestSmtp, event: Record<string, any>): Promise<ReceivedMail> {
    await this.host.send(event);
    await this.host.until((em) => em.some((x) => x.type === 'email.delivered' && x.payload.eventId === event.id));
    return server.mails.find((m) => m.parsed.headers.get('x-pbx-event-id') === event.id)!;
  }

  /** A real SMTP server with a certificate from the test CA, closed at dispose(). */
  async smtp(options: Partial<TestSmtpOptions> = {}): Promise<TestSmtp> {
    const server = await TestSmtp.start({ ca: testCa(), ...options });
    this.defer(() => server.close());
    return server;
  }

  /** Runs `closers` (in the order given) at dispose(), after the plugin is deactivated. */
  defer(...closers: (() => unknown)[]): void {
    this.#closers.push(...closers);
  }

  /** A fresh temporary directory, removed at dispose(). */
  tmpdir(prefix: string): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    this.#dirs.push(dir);
    return dir;
  }

  async dispose(): Promise<void> {
    await this.deactivate();
    for (const c of this.#closers.splice(0)) await c();
    this.#host?.cleanup();
    this.#host = undefined;
    for (const d of this.#dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  }
}
