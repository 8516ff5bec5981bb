const MASK = '[redacted]';

/**
 * The secrets of one SMTP session (password, client secret, refresh and access tokens, DKIM key)
 * and every form in which they could come back in a server reply or an error: verbatim,
 * base64, URL-encoded, and the SASL PLAIN and XOAUTH2 strings built from them.
 */
export class Redactor {
  readonly #forms = new Set<string>();

  constructor(secrets: Iterable<string | undefined> = [], user?: string) {
    for (const s of secrets) this.add(s, user);
  }

  add(secret: string | undefined, user?: string): void {
    if (!secret || secret.length < 4) return;
    const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
    const forms = [secret, b64(secret), encodeURIComponent(secret), new URLSearchParams({ x: secret }).toString().slice(2)];
    if (user !== undefined) forms.push(b64(`\0${user}\0${secret}`), b64(`user=${user}\x01auth=Bearer ${secret}\x01\x01`));
    for (const f of forms) this.#forms.add(f);
    // Each PEM body line of a key on its own, should a reply quote part of it.
    if (secret.includes('-----BEGIN')) for (const l of secret.split(/\r?\n/)) if (l.length >= 16 && !l.startsWith('-----')) this.#forms.add(l);
  }

  /** `s` with every known secret masked; longest forms first, so no fragment of a longer one survives. */
  text(s: string): string {
    let out = s;
    for (const f of [...this.#forms].sort((a, b) => b.length - a.length)) if (out.includes(f)) out = out.split(f).join(MASK);
    return out;
  }

  /**
   * A plain copy of a nodemailer (or token) error that keeps what classification and reports
   * use (code, responseCode, command, response, message, per-recipient errors), each string
   * masked, and drops everything else (sockets, auth objects, cause chains).
   */
  error(e: unknown): Error & Record<string, unknown> {
    const src = (e ?? {}) as Record<string, unknown>;
    const str = (v: unknown) => (typeof v === 'string' ? this.text(v) : undefined);
    const out = new Error(str(src.message) ?? this.text(String(e))) as Error & Record<string, unknown>;
    if (typeof src.name === 'string') out.name = src.name;
    for (const k of ['code', 'originalCode', 'command', 'response', 'recipient'] as const) {
      const v = str(src[k]);
      if (v !== undefined) out[k] = v;
    }
    if (typeof src.responseCode === 'number') out.responseCode = src.responseCode;
    if (Array.isArray(src.rejectedErrors)) out.rejectedErrors = src.rejectedErrors.map((r) => this.error(r));
    if (Array.isArray(src.rejected)) out.rejected = src.rejected.map((r) => (typeof r === 'string' ? r : (r as { address?: string }).address));
    out.stack = `${out.name}: ${out.message}`;
    return out;
  }
}
