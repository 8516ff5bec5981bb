/**
 * HTML an extension helper vouches for: the only helper output a template emits unescaped.
 * Made with `api.safeString(html)`; anything else a helper returns is escaped in HTML parts.
 */
export class SafeHtml {
  readonly #html: string;
  constructor(html: string) {
    this.#html = String(html);
  }
  toString(): string {
    return this.#html;
  }
  toHTML(): string {
    return this.#html;
  }
}

/**
 * Marks `html` as markup the helper has made safe itself (escaping what came from the event).
 * @example api.helper('badge', (label) => api.safeString(`<b class="badge">${api.escape(label)}</b>`))
 */
export function safeString(html: string): SafeHtml {
  return new SafeHtml(html);
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#x27;', '`': '&#x60;', '=': '&#x3D;' };

/** HTML-escapes text exactly as templates do (`{{value}}`). */
export function escapeHtml(value: unknown): string {
  if (value instanceof SafeHtml) return value.toHTML();
  const s = value === undefined || value === null ? '' : String(value);
  return s.replace(/[&<>"'`=]/g, (c) => ESCAPES[c]!);
}
