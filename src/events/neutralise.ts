import type { KnownEvent } from './event-types';

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

const line = (v: string | undefined, max: number) => (v === undefined ? undefined : neutraliseLine(v, max));

/**
 * A copy of a validated event in which every field that came from the phone network or a
 * user (names, numbers, station id, transcript, folder, queue, file names) is neutralised.
 */
export function neutraliseEvent<E extends KnownEvent>(event: E): E {
  const d = structuredClone(event.data) as unknown as Record<string, unknown> & {
    recipient: { name?: string };
    caller: { name?: string; number: string; stationId?: string };
  };
  const L = UNTRUSTED_LIMITS;
  d.recipient.name = line(d.recipient.name, L.name);
  d.caller.name = line(d.caller.name, L.name);
  d.caller.number = neutraliseLine(d.caller.number, L.number);
  if (d.caller.stationId !== undefined) d.caller.stationId = neutraliseLine(d.caller.stationId, L.stationId);
  for (const k of ['folder', 'queue'] as const) {
    if (typeof d[k] === 'string') d[k] = neutraliseLine(d[k] as string, L[k]);
  }
  if (typeof d.transcript === 'string') d.transcript = neutraliseText(d.transcript, L.transcript);
  for (const k of ['recording', 'document'] as const) {
    const ref = d[k] as { filename?: string } | undefined;
    if (ref?.filename !== undefined) ref.filename = neutraliseLine(ref.filename, L.filename);
  }
  for (const k of Object.keys(d)) if (d[k] === undefined) delete d[k];
  if (d.recipient.name === undefined) delete d.recipient.name;
  if (d.caller.name === undefined) delete d.caller.name;
  return { ...event, data: d } as unknown as E;
}
