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

/** Parameters of a libpq / pg connection string that carry a secret. */
const SECRET_PARAMS = new Set(['password', 'sslpassword']);

/**
 * `scheme://` and the userinfo of a URL. Userinfo runs to the last '@' of the string, since a
 * password may hold '@', ':', '/', '?' or '#' unencoded; where a query value holds an '@', more is
 * masked than needed (the host), never less.
 */
function userinfo(url: string): { scheme: string; user: string; password?: string; rest: string } | undefined {
  const m = /^[a-z][a-z0-9+.-]*:\/\//i.exec(url);
  const at = url.lastIndexOf('@');
  if (!m || at < m[0].length) return undefined;
  const info = url.slice(m[0].length, at);
  const colon = info.indexOf(':');
  return { scheme: m[0], user: colon < 0 ? info : info.slice(0, colon), ...(colon >= 0 && { password: info.slice(colon + 1) }), rest: url.slice(at + 1) };
}

/**
 * A PostgreSQL connection string fit to log, report or echo: the password of `user:password@` and
 * every `password` / `sslpassword` parameter masked, the rest (user, hosts, database, options) kept
 * so an operator can tell which database is meant. A libpq `key=value` string is masked too.
 * @example redactConnectionString('postgresql://pbx:s3cret@db:5432/pbx?sslmode=require')
 *   // 'postgresql://pbx:[redacted]@db:5432/pbx?sslmode=require'
 */
export function redactConnectionString(url: string): string {
  const u = userinfo(url);
  let out = u && u.password !== undefined ? `${u.scheme}${u.user}:${MASK}@${u.rest}` : url;
  out = out.replace(/([?&])([^=&#]*)=([^&#]*)/g, (all, sep: string, key: string) => (SECRET_PARAMS.has(safeDecode(key).toLowerCase()) ? `${sep}${key}=${MASK}` : all));
  // libpq keyword/value form: password=secret or password='se cret'
  return out.replace(/(^|\s)((?:ssl)?password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s']\S*)/gi, (_all, pre: string, key: string) => `${pre}${key}${MASK}`);
}

/**
 * The secrets a connection string holds (its password and any `password` or `sslpassword`
 * parameter, as written and decoded), for a Redactor that masks them in a driver's error text.
 * @example new Redactor(connectionStringSecrets(cfg.spool.postgres.connectionString)).error(e)
 */
export function connectionStringSecrets(url: string): string[] {
  const out: string[] = [];
  const u = userinfo(url);
  if (u?.password) out.push(u.password);
  const q = url.indexOf('?');
  if (q >= 0) for (const [k, v] of new URLSearchParams(url.slice(q + 1).split('#')[0])) if (SECRET_PARAMS.has(k.toLowerCase())) out.push(v);
  for (const m of url.matchAll(/(?:^|\s)(?:ssl)?password\s*=\s*('(?:[^'\\]|\\.)*'|[^\s']\S*)/gi)) out.push(m[1]!.replace(/^'|'$/g, ''));
  return [...new Set(out.flatMap((s) => [s, safeDecode(s)]))].filter((s) => s !== '');
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/**
 * True when `url` is a postgres:// or postgresql:// URL as pg reads it (`user@/db?host=/socket`,
 * with no host before the path, counts too). Never echoes the value: it may hold a password.
 */
export function isPostgresUrl(url: string): boolean {
  for (const candidate of [url, url.replace('@/', '@___DUMMY___/')]) {
    try {
      return /^postgres(ql)?:$/.test(new URL(candidate).protocol);
    } catch {
      // not a URL in this form
    }
  }
  return false;
}
