import { EVENT_TYPES } from '../events';

export interface PreviewPageOptions {
  /** Tenant ids to offer (the config's tenants); an admin may also type another. */
  tenants: readonly string[];
  /** Languages to offer. @default ['en', 'de', 'fr', 'es'] */
  languages?: readonly string[];
  /** Where the page POSTs `{tenant, eventType, language, sources?}` and gets `{subject, text, html, language, problems}`. @default '/preview' */
  endpoint?: string;
  /** CSP nonce for the page's one inline script and style, when the host sends a Content-Security-Policy. */
  nonce?: string;
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * A small self-contained HTML page for the reference host's preview endpoint: choose tenant,
 * event and language (and optionally try unsaved subject/text/HTML sources), see the rendered
 * mail. The mail is shown in a sandboxed iframe (no scripts, no same-origin), the text part in a
 * <pre>, problems as a list.
 *
 * The endpoint it expects:
 * - `GET /preview` → this page (text/html);
 * - `POST /preview` with JSON `{tenant, eventType, language?, event?, sources?}` →
 *   200 `{subject, text, html, language, problems}` (plugin.preview()), or 400 `{code, message, field}`
 *   for a PluginError.
 * @example http.createServer((req, res) => res.end(previewPage({ tenants: Object.keys(config.tenants) })))
 */
export function previewPage(o: PreviewPageOptions): string {
  const endpoint = o.endpoint ?? '/preview';
  const nonce = o.nonce ? ` nonce="${esc(o.nonce)}"` : '';
  const option = (v: string) => `<option value="${esc(v)}">${esc(v)}</option>`;
  const tenants = o.tenants.map((t) => `<option value="${esc(t)}"></option>`).join('');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Mail preview</title>
<style${nonce}>
body { margin: 0; font-family: system-ui, sans-serif; color: #111827; background: #f9fafb; }
header { padding: 12px 20px; background: #fff; border-bottom: 1px solid #e5e7eb; display: flex; gap: 12px; flex-wrap: wrap; align-items: end; }
label { display: flex; flex-direction: column; font-size: 13px; color: #374151; gap: 4px; }
input, select, textarea, button { font: inherit; padding: 6px 8px; border: 1px solid #9ca3af; border-radius: 4px; }
button { background: #1d4ed8; color: #fff; border-color: #1d4ed8; cursor: pointer; }
main { display: grid; grid-template-columns: minmax(0, 2fr) minmax(0, 1fr); gap: 16px; padding: 16px 20px; }
iframe { width: 100%; height: 720px; border: 1px solid #e5e7eb; background: #fff; }
pre { white-space: pre-wrap; background: #fff; border: 1px solid #e5e7eb; padding: 12px; font-size: 13px; }
#subject { font-weight: 600; margin: 0 0 8px; }
#problems { color: #b91c1c; }
details { padding: 0 20px; }
textarea { width: 100%; box-sizing: border-box; font-family: ui-monospace, monospace; font-size: 13px; }
</style>
</head>
<body>
<header>
<label>Tenant <input id="tenant" list="tenants" required value="${esc(o.tenants[0] ?? '')}"><datalist id="tenants">${tenants}</datalist></label>
<label>Event <select id="eventType">${EVENT_TYPES.map(option).join('')}</select></label>
<label>Language <select id="language"><option value="">(recipient / tenant)</option>${(o.languages ?? ['en', 'de', 'fr', 'es']).map(option).join('')}</select></label>
<button id="render" type="button">Preview</button>
</header>
<details><summary>Try unsaved templates</summary>
<label>Subject <textarea id="src-subject" rows="1"></textarea></label>
<label>Text <textarea id="src-text" rows="5"></textarea></label>
<label>HTML <textarea id="src-html" rows="8"></textarea></label>
</details>
<main>
<section aria-label="HTML part"><p id="subject"></p><iframe id="html" title="HTML part of the mail" sandbox=""></iframe></section>
<section aria-label="Text part"><ul id="problems"></ul><pre id="text"></pre></section>
</main>
<script${nonce}>
(() => {
  const $ = (id) => document.getElementById(id);
  async function render() {
    const sources = {};
    for (const p of ['subject', 'text', 'html']) { const v = $('src-' + p).value; if (v.trim()) sources[p] = v; }
    const body = { tenant: $('tenant').value.trim(), eventType: $('eventType').value };
    if ($('language').value) body.language = $('language').value;
    if (Object.keys(sources).length) body.sources = sources;
    const res = await fetch(${JSON.stringify(endpoint)}, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const r = await res.json();
    $('problems').replaceChildren();
    if (!res.ok) { $('subject').textContent = (r.code || 'error') + ': ' + (r.message || res.status); $('html').srcdoc = ''; $('text').textContent = ''; return; }
    $('subject').textContent = r.subject + '  [' + r.language + ']';
    $('html').srcdoc = r.html;
    $('text').textContent = r.text;
    for (const p of r.problems || []) {
      const li = document.createElement('li');
      li.textContent = p.template + (p.line ? ':' + p.line + (p.column ? ':' + p.column : '') : '') + ' ' + p.message;
      $('problems').append(li);
    }
  }
  $('render').addEventListener('click', () => render().catch((e) => { $('subject').textContent = String(e); }));
  for (const id of ['eventType', 'language']) $(id).addEventListener('change', () => render().catch(() => {}));
  render().catch(() => {});
})();
</script>
</body>
</html>
`;
}
