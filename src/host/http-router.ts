/** Longest path segment or query value taken, in bytes as sent (percent-encoded); longer ones are refused before decoding. */
export const MAX_SEGMENT_BYTES = 1024;

/**
 * Why a request target was refused: the answer is 400 with `code` naming `field`. HTTP_BAD_REQUEST
 * for a target that is not well formed (bad percent-encoding, an over-long or empty segment),
 * QUERY_INVALID for a query parameter the endpoint does not take.
 */
export class TargetRefused extends Error {
  override readonly name = 'TargetRefused';
  readonly field: string;
  readonly code: 'HTTP_BAD_REQUEST' | 'QUERY_INVALID';

  constructor(field: string, message: string, code: TargetRefused['code'] = 'HTTP_BAD_REQUEST') {
    super(message);
    this.field = field;
    this.code = code;
  }
}

/** A route's path parameters and query parameters, decoded. */
export interface RouteInput {
  params: Record<string, string>;
  query: Record<string, string>;
}

/**
 * Finds the pattern (`/messages/:tenant/:eventId`) a raw request path matches, literal segments
 * compared as sent, parameters percent-decoded strictly. Returns undefined when none matches;
 * throws TargetRefused for a parameter that is empty, over-long, or badly percent-encoded.
 */
export function matchRoute<R>(routes: Record<string, R>, rawPath: string): { route: R; pattern: string; params: Record<string, string> } | undefined {
  const exact = Object.prototype.hasOwnProperty.call(routes, rawPath) ? routes[rawPath] : undefined;
  if (exact !== undefined) return { route: exact, pattern: rawPath, params: {} };
  const parts = rawPath.split('/');
  for (const [pattern, route] of Object.entries(routes)) {
    if (!pattern.includes('/:')) continue;
    const want = pattern.split('/');
    if (want.length !== parts.length) continue;
    const raw: [string, string][] = [];
    let ok = true;
    for (let i = 0; i < want.length && ok; i++) {
      if (want[i]!.startsWith(':')) raw.push([want[i]!.slice(1), parts[i]!]);
      else ok = want[i] === parts[i];
    }
    if (!ok) continue;
    const params: Record<string, string> = {};
    for (const [name, value] of raw) params[name] = decode(value, name);
    return { route, pattern, params };
  }
  return undefined;
}

/**
 * The query string's parameters, each at most once, every name in `allowed`: an unknown or
 * repeated name, a badly percent-encoded or over-long value is refused (TargetRefused naming
 * `query.<name>`).
 */
export function parseQuery(search: string, allowed: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  if (search === '') return out;
  for (const pair of search.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const name = decode(eq < 0 ? pair : pair.slice(0, eq), 'query', true);
    const field = `query.${name.slice(0, 64)}`;
    if (!allowed.includes(name)) {
      throw new TargetRefused(field, `unknown query parameter ${JSON.stringify(name.slice(0, 64))}: this endpoint takes ${allowed.length ? allowed.join(', ') : 'none'}`, 'QUERY_INVALID');
    }
    if (Object.prototype.hasOwnProperty.call(out, name)) throw new TargetRefused(field, `query parameter ${name} given twice`, 'QUERY_INVALID');
    out[name] = decode(eq < 0 ? '' : pair.slice(eq + 1), field, true);
  }
  return out;
}

function decode(raw: string, field: string, form = false): string {
  if (Buffer.byteLength(raw) > MAX_SEGMENT_BYTES) throw new TargetRefused(field, `${field}: expected at most ${MAX_SEGMENT_BYTES} bytes, got ${Buffer.byteLength(raw)}`);
  try {
    const v = decodeURIComponent(form ? raw.replace(/\+/g, ' ') : raw);
    if (!form && v === '') throw new TargetRefused(field, `${field}: expected a value, got an empty path segment`);
    return v;
  } catch (e) {
    if (e instanceof TargetRefused) throw e;
    throw new TargetRefused(field, `${field}: bad percent-encoding in ${JSON.stringify(raw.slice(0, 80))}`);
  }
}
