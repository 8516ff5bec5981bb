/** URL schemes a value inserted at the start of an `href` or `src` may have; anything else renders as `#`. */
export const SAFE_URL_SCHEMES: ReadonlySet<string> = new Set(['http', 'https', 'mailto', 'tel']);

/** The internal helper URL attribute values go through (not callable from tenant templates: it is not an allowed helper). */
export const URL_HELPER = '__url';

/** Attributes whose value is a URL a mail client may follow or load. */
const URL_ATTRIBUTE = /(?:^|[\s"'/])(?:href|src|action|formaction|poster|background|cite|xlink:href)\s*=\s*["']?\s*$/i;

/**
 * The value of a URL attribute: itself when it starts with http:, https:, mailto: or tel:
 * (browsers ignore tabs, line breaks and leading blanks, so they are ignored here too), `#`
 * otherwise (`javascript:`, `data:`, relative and protocol-relative URLs).
 */
export function safeUrl(value: unknown): string {
  const s = value === undefined || value === null ? '' : String(value);
  if (s === '') return '';
  const squeezed = s.replace(/[\u0000-\u0020\u007f-\u009f]/g, '');
  const m = /^([a-z][a-z0-9+.-]*):/i.exec(squeezed);
  return m && SAFE_URL_SCHEMES.has(m[1]!.toLowerCase()) ? s : '#';
}

type Node = { type: string; [k: string]: any };

/**
 * Rewrites a parsed HTML template so every `{{value}}` that starts the value of a URL attribute
 * (`<a href="{{caller.name}}">`) goes through safeUrl: a caller named `javascript:alert(1)`
 * becomes `href="#"`, never a live link. Values later in the attribute (`href="https://crm/?q={{x}}"`)
 * cannot change the scheme and are left alone. Returns the same (mutated) AST.
 */
export function guardUrlAttributes(ast: hbs.AST.Program): hbs.AST.Program {
  const walk = (program: Node | undefined, before: string): string => {
    let last = before;
    for (const n of (program?.body ?? []) as Node[]) {
      switch (n.type) {
        case 'ContentStatement':
          last = last.length > 200 ? last.slice(-200) + n.value : last + n.value;
          break;
        case 'MustacheStatement':
          if (URL_ATTRIBUTE.test(last.slice(-200))) wrap(n);
          last = 'x';
          break;
        case 'BlockStatement':
        case 'DecoratorBlock': {
          walk(n.program, last);
          walk(n.inverse, last);
          last = 'x';
          break;
        }
        case 'CommentStatement':
          break;
        default:
          last = 'x';
      }
    }
    return last;
  };
  walk(ast as unknown as Node, '');
  return ast;
}

function wrap(n: Node): void {
  const inner = n.params.length === 0 && !n.hash ? n.path : { type: 'SubExpression', path: n.path, params: n.params, hash: n.hash, loc: n.loc };
  n.path = { type: 'PathExpression', data: false, depth: 0, parts: [URL_HELPER], original: URL_HELPER, loc: n.loc };
  n.params = [inner];
  n.hash = undefined;
}
