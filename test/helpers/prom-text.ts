/**
 * A small strict parser of the Prometheus text exposition format 0.0.4, written from its
 * specification (not prom-client's code), so a scrape is checked by something other than what
 * wrote it. It throws on anything the format does not allow: a line without its newline, a
 * sample before its family's TYPE, a TYPE given twice, a bad metric or label name, a bad escape,
 * an unparsable value, a duplicate series, a histogram whose buckets are not cumulative or lack
 * `le="+Inf"`, or whose `_count` differs from its `+Inf` bucket.
 */

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  type: MetricType;
  help?: string;
  samples: Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set<MetricType>(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

export class PromParseError extends Error {
  override readonly name = 'PromParseError';
}

function fail(line: number, why: string, text: string): never {
  throw new PromParseError(`line ${line}: ${why}: ${JSON.stringify(text.slice(0, 200))}`);
}

function parseValue(s: string, line: number, text: string): number {
  if (s === '+Inf' || s === 'Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  if (s === 'NaN') return NaN;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s)) fail(line, `not a float value ${JSON.stringify(s)}`, text);
  return Number(s);
}

/** The labels block starting at `at` (just after `{`); returns the labels and the index after `}`. */
function parseLabels(text: string, at: number, line: number): [Record<string, string>, number] {
  const labels: Record<string, string> = {};
  let i = at;
  for (;;) {
    if (text[i] === '}') return [labels, i + 1];
    const eq = text.indexOf('=', i);
    if (eq < 0) fail(line, 'label without =', text);
    const name = text.slice(i, eq).trim();
    if (!LABEL_NAME.test(name) || name.startsWith('__')) fail(line, `bad label name ${JSON.stringify(name)}`, text);
    if (Object.prototype.hasOwnProperty.call(labels, name)) fail(line, `label ${name} twice`, text);
    if (text[eq + 1] !== '"') fail(line, 'label value not quoted', text);
    let v = '';
    let j = eq + 2;
    for (;; j++) {
      const c = text[j];
      if (c === undefined) fail(line, 'unterminated label value', text);
      if (c === '"') break;
      if (c === '\n') fail(line, 'raw newline in label value', text);
      if (c === '\\') {
        const n = text[++j];
        if (n === '\\') v += '\\';
        else if (n === '"') v += '"';
        else if (n === 'n') v += '\n';
        else fail(line, `bad escape \\${n} in label value`, text);
      } else v += c;
    }
    labels[name] = v;
    i = j + 1;
    if (text[i] === ',') i++;
    else if (text[i] !== '}') fail(line, 'expected , or } after a label', text);
  }
}

function familyOf(sample: string, families: Map<string, Family>): Family | undefined {
  if (families.has(sample)) return families.get(sample);
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!sample.endsWith(suffix)) continue;
    const f = families.get(sample.slice(0, -suffix.length));
    if (f && (f.type === 'histogram' || (f.type === 'summary' && suffix !== '_bucket'))) return f;
  }
  return undefined;
}

/** Parses a whole scrape; every family by name. */
export function parsePrometheusText(body: string): Map<string, Family> {
  if (body !== '' && !body.endsWith('\n')) throw new PromParseError('the last line has no newline');
  const families = new Map<string, Family>();
  const seen = new Set<string>();
  const lines = body.split('\n');
  lines.pop();
  lines.forEach((text, idx) => {
    const line = idx + 1;
    if (text.trim() === '') return;
    if (text.startsWith('#')) {
      const m = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s(.*))?$/.exec(text);
      if (!m) return; // a comment
      const [, kind, name, rest = ''] = m;
      if (!METRIC_NAME.test(name!)) fail(line, `bad metric name ${name}`, text);
      let f = families.get(name!);
      if (kind === 'TYPE') {
        if (!TYPES.has(rest.trim() as MetricType)) fail(line, `unknown type ${rest}`, text);
        if (f?.samples.length) fail(line, 'TYPE after samples of its family', text);
        if (f && f.type !== 'untyped') fail(line, 'TYPE given twice', text);
        if (f) f.type = rest.trim() as MetricType;
        else families.set(name!, (f = { name: name!, type: rest.trim() as MetricType, samples: [] }));
      } else {
        if (f?.help !== undefined) fail(line, 'HELP given twice', text);
        if (/\\[^\\n]/.test(rest.replace(/\\\\/g, ''))) fail(line, 'bad escape in HELP', text);
        const help = rest.replace(/\\(\\|n)/g, (_, c: string) => (c === 'n' ? '\n' : '\\'));
        if (f) f.help = help;
        else families.set(name!, (f = { name: name!, type: 'untyped', help, samples: [] }));
      }
      return;
    }
    const nameEnd = text.search(/[{ \t]/);
    if (nameEnd <= 0) fail(line, 'no value', text);
    const name = text.slice(0, nameEnd);
    if (!METRIC_NAME.test(name)) fail(line, `bad metric name ${name}`, text);
    let labels: Record<string, string> = {};
    let rest = nameEnd;
    if (text[nameEnd] === '{') [labels, rest] = parseLabels(text, nameEnd + 1, line);
    const parts = text.slice(rest).trim().split(/[ \t]+/);
    if (parts.length < 1 || parts.length > 2 || parts[0] === '') fail(line, 'expected a value and an optional timestamp', text);
    const value = parseValue(parts[0]!, line, text);
    if (parts[1] !== undefined && !/^-?\d+$/.test(parts[1])) fail(line, 'bad timestamp', text);
    const f = familyOf(name, families);
    if (!f) fail(line, `sample ${name} of no declared family (TYPE must come first)`, text);
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (seen.has(key)) fail(line, 'duplicate series', text);
    seen.add(key);
    if (f.type === 'histogram' && name.endsWith('_bucket')) {
      if (labels.le === undefined) fail(line, 'histogram bucket without le', text);
      parseValue(labels.le, line, text);
    }
    f.samples.push({ name, labels, value });
  });
  for (const f of families.values()) if (f.type === 'histogram') checkHistogram(f);
  return families;
}

function checkHistogram(f: Family): void {
  const series = new Map<string, { buckets: [number, number][]; count?: number }>();
  for (const s of f.samples) {
    const { le, ...rest } = s.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    const h = series.get(key) ?? { buckets: [] };
    series.set(key, h);
    if (s.name === `${f.name}_bucket`) h.buckets.push([le === '+Inf' ? Infinity : Number(le), s.value]);
    else if (s.name === `${f.name}_count`) h.count = s.value;
  }
  for (const [key, h] of series) {
    const sorted = [...h.buckets].sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < sorted.length; i++) {
      if (sorted[i]![1] < sorted[i - 1]![1]) throw new PromParseError(`${f.name}${key}: buckets not cumulative`);
    }
    const inf = sorted.at(-1);
    if (!inf || inf[0] !== Infinity) throw new PromParseError(`${f.name}${key}: no le="+Inf" bucket`);
    if (h.count !== inf[1]) throw new PromParseError(`${f.name}${key}: _count ${h.count} is not the +Inf bucket ${inf[1]}`);
  }
}

/** The value of one series (undefined when absent); labels must match exactly. */
export function sampleValue(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number | undefined {
  const want = JSON.stringify(Object.entries(labels).sort());
  for (const f of families.values()) {
    for (const s of f.samples) if (s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === want) return s.value;
  }
  return undefined;
}

/** The sum over every series of `name` whose labels include `labels`. */
export function sampleSum(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const f of families.values()) {
    for (const s of f.samples) if (s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)) sum += s.value;
  }
  return sum;
}
