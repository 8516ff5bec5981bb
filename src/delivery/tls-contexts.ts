import * as tls from 'node:tls';
import type { EffectiveTenant } from '../config';

type Smtp = EffectiveTenant['smtp'];

/**
 * One TLS client context per tenant settings object, reused by every session to that tenant.
 * Building a context with a private `ca` costs ~1.3 ms of CPU (the trust store is rebuilt), about
 * a fifth of a whole STARTTLS delivery on loopback. Each session still makes its own connection and
 * a full handshake: Node never resumes a client session unless one is passed explicitly, and none
 * is. Keyed weakly by the frozen settings, so a config change gets fresh contexts.
 */
export class TlsContexts {
  readonly #bySettings = new WeakMap<Smtp, tls.SecureContext>();

  get(smtp: Smtp): tls.SecureContext | undefined {
    if (smtp.security === 'none') return undefined;
    let ctx = this.#bySettings.get(smtp);
    if (!ctx) {
      ctx = tls.createSecureContext({ minVersion: 'TLSv1.2', ...(smtp.tls?.ca !== undefined && { ca: smtp.tls.ca }) });
      this.#bySettings.set(smtp, ctx);
    }
    return ctx;
  }
}
