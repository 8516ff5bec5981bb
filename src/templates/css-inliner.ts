import juice from 'juice';
import { LRUCache } from 'lru-cache';

type JuiceOptions = Parameters<typeof juice>[1];

/** Markup that must stay as it is (comments, style and script blocks, tags with quoted attributes), or a run of text. */
const TOKENS = /(<!--[\s\S]*?-->|<(style|script)\b[\s\S]*?<\/\2\s*>|<[^>"']*(?:"[^"]*"[^>"']*|'[^']*'[^>"']*)*>)|([^<]+)/gi;
const SLOT = /__pbxcss(\d+)__/g;
const MAX_SHAPES = 128;
/** Characters of shapes kept at most (a tenant's HTML may be large). */
const MAX_SHAPE_CHARS = 8_000_000;

/**
 * CSS inlining (juice) that is paid once per document shape instead of once per message.
 * juice costs ~1.5 ms and more per message (parse the HTML and the stylesheet, match every
 * selector), about as much as a whole STARTTLS delivery; yet which styles land on which element
 * depends on the markup, not on the text between tags, and mails of one type and language share
 * their markup. So the text runs are swapped for numbered slots, the resulting shape is inlined
 * once, and later mails of that shape only fill their text back in.
 *
 * A shape is trusted only after its first use proved it: the slotted result, filled with that
 * mail's text, must equal juice's own output for the mail character for character; a shape that
 * fails the check (or any mail that already contains a slot marker) is always inlined by juice.
 */
export class CssInliner {
  readonly #options: JuiceOptions;
  /** Shape -> its inlined form; '' when the shape failed the check. */
  readonly #shapes = new LRUCache<string, string>({ max: MAX_SHAPES, maxSize: MAX_SHAPE_CHARS, sizeCalculation: (v, k) => Math.max(1, k.length + v.length) });

  constructor(options: JuiceOptions) {
    this.#options = options;
  }

  /** How many document shapes are remembered. */
  get shapes(): number {
    return this.#shapes.size;
  }

  inline(html: string): string {
    if (html.includes('__pbxcss')) return juice(html, this.#options);
    const texts: string[] = [];
    const shape = html.replace(TOKENS, (m: string, markup: string | undefined) => (markup !== undefined || m.trim() === '' ? m : `__pbxcss${texts.push(m) - 1}__`));
    const known = this.#shapes.get(shape);
    if (known) return fill(known, texts);
    const direct = juice(html, this.#options);
    if (known === undefined) {
      const inlined = juice(shape, this.#options);
      this.#shapes.set(shape, fill(inlined, texts) === direct ? inlined : '');
    }
    return direct;
  }
}

function fill(inlined: string, texts: string[]): string {
  return inlined.replace(SLOT, (_, i: string) => texts[Number(i)]!);
}
