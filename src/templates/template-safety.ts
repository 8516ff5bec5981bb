import Handlebars from 'handlebars';
import { PluginError } from '../errors';
import { ALLOWED_HELPERS } from './helpers';

/** Longest template source accepted, in characters, per kind (the config schema has the same caps). */
export const TEMPLATE_SIZE_LIMITS = {
  subject: 2_000,
  text: 65_536,
  html: 262_144,
  partial: 262_144,
  layout: 262_144,
} as const;
export type TemplateKind = keyof typeof TEMPLATE_SIZE_LIMITS;

/** Where in a template source something went wrong (1-based). */
export interface SourceLocation {
  line?: number;
  column?: number;
}

interface Node {
  type?: string;
  escaped?: boolean;
  loc?: { start: { line: number; column: number } };
  path?: { type?: string; original?: unknown; parts?: string[]; head?: unknown };
  name?: Node & { original?: unknown };
  params?: unknown[];
  hash?: { pairs?: unknown[] };
}


/**
 * Parses a template, turning a syntax error into TEMPLATE_INVALID with its line and column.
 * Handlebars' own parse error carries only a line, so the location comes from a private
 * parser instance whose error hook keeps the lexer position (nothing shared is changed).
 */
export function parseTemplate(source: string): hbs.AST.Program {
  try {
    return Handlebars.parse(source);
  } catch (e) {
    const hbLine = (e as { lineNumber?: number }).lineNumber;
    const hbCol = (e as { column?: number }).column;
    const found = syntaxError(source);
    const where = found ?? (hbLine !== undefined ? { line: hbLine, column: (hbCol ?? 0) + 1, what: '' } : undefined);
    const reason = found?.what || String((e as Error).message).split('\n')[0]!.replace(/ on line \d+:?$/, '').replace(/ - \d+:\d+$/, '');
    throw new PluginError('TEMPLATE_INVALID', `syntax error: ${reason}${where ? ` (line ${where.line}, column ${where.column})` : ''}`, { cause: e });
  }
}

interface ParseHash {
  loc?: { first_line: number; first_column: number };
  text?: string;
  token?: string;
  expected?: string[];
}

function syntaxError(source: string): { line: number; column: number; what: string } | undefined {
  const { Parser } = Handlebars as unknown as { Parser: { Parser: new () => Record<string, unknown> } };
  if (typeof Parser?.Parser !== 'function') return undefined;
  const p = new Parser.Parser() as { yy: unknown; parseError: unknown; parse(s: string): unknown };
  p.yy = {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    ...require('handlebars/dist/cjs/handlebars/compiler/helpers'),
    locInfo: (l: { first_line: number; first_column: number; last_line: number; last_column: number }) => ({
      start: { line: l.first_line, column: l.first_column },
      end: { line: l.last_line, column: l.last_column },
    }),
  };
  p.parseError = (msg: string, hash: ParseHash) => {
    throw Object.assign(new Error(msg), { hash });
  };
  try {
    p.parse(source);
  } catch (e) {
    const hash = (e as { hash?: ParseHash }).hash;
    if (hash?.loc) {
      const got = hash.token === 'EOF' ? 'end of template' : hash.token === 'INVALID' ? JSON.stringify(hash.text ?? '') : `${JSON.stringify(hash.text ?? '')}`;
      const expected = (hash.expected ?? []).map((x) => x.replace(/'/g, '')).filter((x) => /^(CLOSE|OPEN_ENDBLOCK|INVERSE|OPEN_INVERSE_CHAIN|ID|EOF)$/.test(x));
      const hint = expected.includes('CLOSE') ? ' (a tag is not closed with }})' : expected.includes('OPEN_ENDBLOCK') ? ' (a block is not closed with {{/…}})' : '';
      return { line: hash.loc.first_line, column: hash.loc.first_column + 1, what: `unexpected ${got}${hint}` };
    }
    const lineNumber = (e as { lineNumber?: number }).lineNumber;
    if (lineNumber !== undefined) {
      return { line: lineNumber, column: ((e as { column?: number }).column ?? 0) + 1, what: String((e as Error).message).replace(/ - \d+:\d+$/, '') };
    }
  }
  return undefined;
}

/** The line and column in a message made by this module or by Handlebars. */
export function locate(e: unknown): SourceLocation {
  const m = /\(line (\d+), column (\d+)\)/.exec(String((e as Error)?.message ?? ''));
  if (m) return { line: Number(m[1]), column: Number(m[2]) };
  const x = e as { lineNumber?: number; column?: number };
  if (typeof x?.lineNumber === 'number') return { line: x.lineNumber, ...(typeof x.column === 'number' && { column: x.column + 1 }) };
  return {};
}

const PARTIAL_NAME = /^@partial-block$|^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

/** One thing a tenant template may not do, with where it is (1-based). */
export interface UnsafeConstruct {
  message: string;
  line: number;
  column: number;
}

/** Examples used when a helper is written as if it were a variable. */
const HELPER_EXAMPLES: Record<string, string> = {
  duration: '{{duration voicemail.durationSeconds}} (or the ready-made {{voicemail.duration}})',
  date: '{{date event.occurredAt}}',
  time: '{{time event.occurredAt}}',
  datetime: '{{datetime event.occurredAt}}',
  phone: '{{phone caller.number}}',
  filesize: '{{filesize attachment.bytes}}',
  number: '{{number fax.pages}}',
  plural: '{{plural fax.pages one="# page" other="# pages"}}',
  default: '{{default caller.name "unknown caller"}}',
  eq: '{{#if (eq fax.status "partial")}}…{{/if}}',
  urlencode: '{{urlencode caller.number}}',
  tel: '<a href="{{tel caller.number}}">',
};

/**
 * Every construct a tenant template may not use, in source order, each with line and column:
 * - unescaped output: `{{{x}}}` and `{{& x}}`;
 * - any helper outside the documented set and the instance's extension helpers (`allowed`), so nothing can emit unescaped event data;
 * - a helper written as a variable (`{{duration}}`, `{{date}}`): helpers and variables never share a name;
 * - dynamic partials, partial names outside [A-Za-z0-9_-] (no `constructor`, no `__proto__`);
 * - decorators other than `{{#*inline "name"}}`;
 * - sources over the size limit of their kind (located where the limit is crossed).
 * Throws TEMPLATE_INVALID (with line and column) only for a syntax error, after which nothing more can be read.
 */
export function findUnsafe(source: string, kind: TemplateKind = 'html', allowed: ReadonlySet<string> = ALLOWED_HELPERS): { ast: hbs.AST.Program; problems: UnsafeConstruct[] } {
  if (typeof source !== 'string') throw new PluginError('TEMPLATE_INVALID', `a template source must be a string, received ${source === null ? 'null' : typeof source}`);
  const problems: UnsafeConstruct[] = [];
  const add = (message: string, n: Node | undefined) => problems.push({ message, line: n?.loc?.start.line ?? 1, column: (n?.loc?.start.column ?? 0) + 1 });
  if (source.length > TEMPLATE_SIZE_LIMITS[kind]) {
    const before = source.slice(0, TEMPLATE_SIZE_LIMITS[kind]);
    const line = before.split('\n').length;
    problems.push({ message: `template is ${source.length} characters long; the limit for ${kind} templates is ${TEMPLATE_SIZE_LIMITS[kind]}`, line, column: before.length - before.lastIndexOf('\n') });
  }
  const ast = parseTemplate(source);
  const helperCall = (n: Node) => {
    const hasArgs = (n.params?.length ?? 0) > 0 || (n.hash?.pairs?.length ?? 0) > 0;
    const p = n.path as { type?: string; parts?: string[]; data?: boolean; original?: unknown; depth?: number } | undefined;
    const name = p?.type === 'PathExpression' && !p.data && p.parts?.length === 1 && !p.depth ? p.parts[0]! : undefined;
    if (!hasArgs) {
      if (n.type !== 'BlockStatement' && name !== undefined && allowed.has(name) && String(p?.original) === name) {
        add(`"${name}" is a helper, not a variable: give it a value, e.g. ${HELPER_EXAMPLES[name] ?? `{{#${name} …}}`}`, n);
      }
      return;
    }
    if (name === undefined || !allowed.has(name)) add(`"${String(p?.original ?? '?')}" is not an allowed helper`, n);
  };
  const visit = (node: unknown): void => {
    if (!node || typeof node !== 'object') return;
    const n = node as Node;
    switch (n.type) {
      case 'MustacheStatement':
        if (n.escaped === false) add('unescaped output ({{{…}}} or {{& …}}) is not allowed in tenant templates', n);
        helperCall(n);
        break;
      case 'BlockStatement':
      case 'SubExpression':
        helperCall(n);
        break;
      case 'Decorator':
        add('decorators are not allowed in tenant templates', n);
        break;
      case 'DecoratorBlock':
        if (n.path?.original !== 'inline') add('only the inline decorator is allowed in tenant templates', n);
        break;
      case 'PartialStatement':
      case 'PartialBlockStatement': {
        const name = n.name;
        if (!name || name.type === 'SubExpression') {
          add('dynamic partials are not allowed in tenant templates', n);
          break;
        }
        const original = String(name.original ?? '');
        if (!PARTIAL_NAME.test(original) || Object.prototype.hasOwnProperty.call(Object.prototype, original)) add(`"${original}" is not a usable partial name`, n);
        break;
      }
    }
    for (const v of Object.values(node)) if (v && typeof v === 'object') Array.isArray(v) ? v.forEach(visit) : visit(v);
  };
  visit(ast);
  problems.sort((a, b) => a.line - b.line || a.column - b.column);
  return { ast, problems };
}

/** Refuses a tenant template with its first forbidden construct (see findUnsafe), as TEMPLATE_INVALID with line and column. Returns the parsed template. */
export function assertSafe(source: string, kind: TemplateKind = 'html', allowed: ReadonlySet<string> = ALLOWED_HELPERS): hbs.AST.Program {
  const { ast, problems } = findUnsafe(source, kind, allowed);
  const first = problems[0];
  if (first) throw new PluginError('TEMPLATE_INVALID', `${first.message} (line ${first.line}, column ${first.column})`);
  return ast;
}
