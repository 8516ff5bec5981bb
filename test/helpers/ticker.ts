import { voicemail } from './events';
import type { FakeHost } from './fake-host';
import { FaultServer } from './fault-servers';
import { testCa } from './smtp';

export const TICK_TENANT = 'tick.example.com';

/**
 * A clock made of retries, for "nothing happened" assertions: a tenant whose server answers 451 to
 * its one recipient, forever. Each email.deferred of its one message is one more backoff the
 * scheduler waited out and acted on, so "the tick tenant was deferred n times" proves the window
 * in which another tenant could have been retried really passed, without sleeping.
 */
export class RetryTicker {
  readonly event = voicemail(TICK_TENANT, {}, { recipient: { extension: '900', email: [`tick@${TICK_TENANT}`] } });

  private constructor(readonly server: FaultServer) {}

  static async start(): Promise<RetryTicker> {
    return new RetryTicker(await FaultServer.start({ cert: testCa().issue(), rcpt: { [`tick@${TICK_TENANT}`]: 451 } }));
  }

  /** The tenant's settings, to put under `tenants[TICK_TENANT]`. */
  tenant(): Record<string, unknown> {
    return {
      from: `PBX <pbx@${TICK_TENANT}>`,
      smtp: { host: '127.0.0.1', port: this.server.port, security: 'starttls', tls: { ca: testCa().cert, servername: 'localhost' }, connectionTimeoutMs: 2000, greetingTimeoutMs: 2000, socketTimeoutMs: 3000 },
    };
  }

  /** How many times its message was deferred so far. */
  rounds(host: FakeHost): number {
    return host.of('email.deferred', this.event.id).length;
  }

  /** Queues its message, then waits until it was deferred `n` more times. */
  async tick(host: FakeHost, n: number, ms = 20_000): Promise<void> {
    // A second send of the same event is a duplicate: harmless.
    await host.send(this.event);
    const target = this.rounds(host) + n;
    await host.until(() => this.rounds(host) >= target, ms);
  }

  close(): Promise<void> {
    return this.server.close();
  }
}
