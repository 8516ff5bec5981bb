// C0 and C1 controls, DEL, line/paragraph separators, bidi embeddings/overrides/isolates.
const LINE_UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]/g;
const TEXT_UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]/g;
// Line breaks and tabs separate words: they become spaces rather than vanishing.
const LINE_BREAKS = /[\t\n\v\f\r\u0085\u2028\u2029]/g;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** Longest kept length, in code points, of each untrusted field. */
export const UNTRUSTED_LIMITS = {
  name: 128,
  number: 64,
  stationId: 64,
  folder: 64,
  queue: 128,
  filename: 128,
  transcript: 10_000,
} as const;

function truncate(s: string, max: number): string {
  const cps = Array.from(s);
  return cps.length <= max ? s : `${cps.slice(0, max - 1).join('')}…`;
}

/**
 * Makes one line of untrusted text safe to carry anywhere: controls, separators and bidi
 * overrides are dropped (line breaks and tabs become spaces), encoded-word openers (`=?`) are
 * broken up, whitespace runs fold, the result is trimmed and shortened. Never throws, never refuses.
 */
export function neutraliseLine(s: string, max: number): string {
  const clean = s
    .replace(LONE_SURROGATE, '\ufffd')
    .replace(LINE_BREAKS, ' ')
    .replace(LINE_UNSAFE, '')
    // `=?` opens an RFC 2047 encoded word: nodemailer passes a well-formed one through as
    // pre-encoded, and mail readers would decode the caller's bytes (CR, LF, "Bcc:") in a header.
    .replace(/=\?/g, '= ?')
    .replace(/\s+/g, ' ')
    .trim();
  return truncate(clean, max);
}

/** Like neutraliseLine for multi-line text: line breaks become `\n`, blank-line runs fold. */
export function neutraliseText(s: string, max: number): string {
  const clean = s
    .replace(LONE_SURROGATE, '\ufffd')
    .replace(/\r\n?/g, '\n')
    .replace(/\t/g, ' ')
    .replace(TEXT_UNSAFE, '')
    .replace(/[ \u00a0]+\n/g, '\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
  return truncate(clean, max);
}

/** The schema keyword that marks caller-controlled text. */
export const UNTRUSTED_KEYWORD = 'x-untrusted';

/**
 * The value of `"x-untrusted"`: `true` (one line, at most 128 code points) or
 * `{ "limit": n, "multiline": true }` (line breaks kept, for transcripts and the like).
 */
export type UntrustedAnnotation = boolean | { limit?: number; multiline?: boolean };

export const UNTRUSTED_META_SCHEMA = {
  anyOf: [
    { type: 'boolean' },
    {
      type: 'object',
      additionalProperties: false,
      properties: { limit: { type: 'integer', minimum: 1, maximum: 1_000_000 }, multiline: { type: 'boolean' } },
    },
  ],
} as const;

/** Longest kept length, in code points, of an untrusted field annotated `true`. */
export const DEFAULT_UNTRUSTED_LIMIT = UNTRUSTED_LIMITS.name;

/** Neutralises one string as its schema annotation says (see neutraliseLine, neutraliseText). */
export function neutraliseUntrusted(s: string, annotation: UntrustedAnnotation): string {
  if (annotation === false) return s;
  const o = annotation === true ? {} : annotation;
  const limit = o.limit ?? DEFAULT_UNTRUSTED_LIMIT;
  return o.multiline ? neutraliseText(s, limit) : neutraliseLine(s, limit);
}
