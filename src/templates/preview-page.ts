import { BUILT_IN_TYPES } from '../kinds';

export interface PreviewPageOptions {
  /** Event types to offer (an instance's `status().eventTypes`, extension kinds included). @default the built-in types */
  eventTypes?: readonly string[];
  /** Tenant ids to offer in the page itself; an admin may also type another. Leave empty when the page is served without authentication, and give `tenantsEndpoint`. @default [] */
  tenants?: readonly string[];
  /** Where the page GETs `{tenants: string[]}` (with the token) to fill the tenant list. */
  tenantsEndpoint?: string;
  /** Languages to offer. @default ['en', 'de', 'fr', 'es'] */
  languages?: readonly string[];
  /** Where the page POSTs `{tenant, eventType, language, sources?}` and gets `{subject, text, html, language, problems}`. @default '/preview' */
  endpoint?: string;
  /** CSP nonce for the page's one inline script and style; send `previewPageHeaders(nonce)` with it. */
  nonce?: string;
}

/** The sessionStorage key under which the page keeps the access token (per tab, gone when the tab closes). */
export const PREVIEW_TOKEN_KEY = 'pbx-email-notify.token';

/**
 * Response headers for the page: a Content-Security-Policy allowing only the page's own
 * nonce-tagged script (nothing from elsewhere, nothing inline without the nonce), calls to its
 * own origin only, no framing by anyone (`frame-ancestors 'none'`, `X-Frame-Options: DENY`), and
 * no referrer. Inline styles stay allowed because the mail shown in the sandboxed srcdoc frame
 * inherits this policy and mail HTML is styled inline; images may come from https or data URLs
 * as in a mail client.
 * @example res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', ...previewPageHeaders(nonce) })
 */
export function previewPageHeaders(nonce: string): Record<string, string> {
  return {
    'content-security-policy': [
      "default-src 'none'",
      `script-src 'nonce-${nonce}'`,
      "style-src 'unsafe-inline'",
      'img-src data: https:',
      'font-src data: https:',
      "connect-src 'self'",
      "frame-src 'self'",
      "frame-ancestors 'none'",
      "base-uri 'none'",
      "form-action 'none'",
    ].join('; '),
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
    'x-content-type-options': 'nosniff',
    'cache-control': 'no-store',
  };
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * A small self-contained HTML page for the reference host's preview endpoint: choose tenant,
 * event and language (and optionally try unsaved subject/text/HTML sources), see the rendered
 * mail at phone or desktop width. The mail is shown in a sandboxed iframe (no scripts, no
 * same-origin), the text part in a <pre>, problems as a list. Works on a 375 px wide screen.
 *
 * The access token: opened as `/preview#token=TOKEN` the page moves the token from the URL
 * fragment (never sent to the server, never in a query string) into sessionStorage and removes it
 * from the address bar; or the token is typed once into its field. Every call carries
 * `Authorization: Bearer TOKEN`; a 401 asks for the token again.
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
  const given = o.tenants ?? [];
  const tenants = given.map((t) => `<option value="${esc(t)}"></option>`).join('');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Mail preview</title>
<style${nonce}>
*, *::before, *::after { box-sizing: border-box; }
body { margin: 0; font-family: system-ui, sans-serif; color: #111827; background: #f9fafb; }
header { padding: 12px 20px; background: #fff; border-bottom: 1px solid #e5e7eb; display: flex; gap: 12px; flex-wrap: wrap; align-items: end; }
label { display: flex; flex-direction: column; font-size: 13px; color: #374151; gap: 4px; min-width: 0; }
input, select, textarea, button { font: inherit; padding: 6px 8px; border: 1px solid #9ca3af; border-radius: 4px; max-width: 100%; }
button { background: #1d4ed8; color: #fff; border-color: #1d4ed8; cursor: pointer; }
.width { display: flex; gap: 0; }
.width button { background: #fff; color: #1d4ed8; border-radius: 0; }
.width button:first-child { border-radius: 4px 0 0 4px; }
.width button:last-child { border-radius: 0 4px 4px 0; }
.width button[aria-pressed="true"] { background: #1d4ed8; color: #fff; }
main { display: grid; grid-template-columns: minmax(0, 2fr) minmax(0, 1fr); gap: 16px; padding: 16px 20px; }
main > section { min-width: 0; }
.frame { overflow-x: auto; max-width: 100%; }
iframe { display: block; width: 100%; height: 720px; border: 1px solid #e5e7eb; background: #fff; margin: 0 auto; }
iframe.phone { width: 375px; max-width: 100%; }
iframe.desktop { width: 100%; min-width: 0; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; background: #fff; border: 1px solid #e5e7eb; padding: 12px; font-size: 13px; }
#subject { font-weight: 600; margin: 0 0 8px; overflow-wrap: anywhere; }
#problems { color: #b91c1c; overflow-wrap: anywhere; }
details { padding: 0 20px; }
textarea { width: 100%; font-family: ui-monospace, monospace; font-size: 13px; }
@media (max-width: 700px) {
  header { flex-direction: column; align-items: stretch; padding: 12px; }
  header > * { width: 100%; }
  .width button { flex: 1; }
  main { grid-template-columns: minmax(0, 1fr); padding: 12px; }
  details { padding: 0 12px; }
  iframe { height: 640px; }
}
</style>
</head>
<body>
<header>
<label>Tenant <input id="tenant" list="tenants" required value="${esc(given[0] ?? '')}"><datalist id="tenants">${tenants}</datalist></label>
<label>Event <select id="eventType">${(o.eventTypes ?? BUILT_IN_TYPES).map(option).join('')}</select></label>
<label>Language <select id="language"><option value="">(recipient / tenant)</option>${(o.languages ?? ['en', 'de', 'fr', 'es']).map(option).join('')}</select></label>
<label>Access token <input id="token" type="password" autocomplete="off" spellcheck="false" placeholder="kept for this tab only"></label>
<div class="width" role="group" aria-label="Preview width"><button id="width-phone" type="button" aria-pressed="false">Phone</button><button id="width-desktop" type="button" aria-pressed="true">Desktop</button></div>
<button id="render" type="button">Preview</button>
</header>
<details><summary>Try unsaved templates</summary>
<label>Subject <textarea id="src-subject" rows="1"></textarea></label>
<label>Text <textarea id="src-text" rows="5"></textarea></label>
<label>HTML <textarea id="src-html" rows="8"></textarea></label>
</details>
<main>
<section aria-label="HTML part"><p id="subject"></p><div class="frame"><iframe id="html" class="desktop" title="HTML part of the mail" sandbox=""></iframe></div></section>
<section aria-label="Text part"><ul id="problems"></ul><pre id="text"></pre></section>
</main>
<script${nonce}>
(() => {
  const $ = (id) => document.getElementById(id);
  const KEY = ${JSON.stringify(PREVIEW_TOKEN_KEY)};
  const store = { get: () => { try { return sessionStorage.getItem(KEY) || ''; } catch { return ''; } }, set: (v) => { try { sessionStorage.setItem(KEY, v); } catch {} } };
  const fragment = /(?:^#|&)token=([^&]*)/.exec(location.hash);
  if (fragment) {
    store.set(decodeURIComponent(fragment[1]));
    history.replaceState(null, '', location.pathname + location.search);
  }
  const headers = (json) => {
    const h = json ? { 'content-type': 'application/json' } : {};
    const t = store.get();
    if (t) h.authorization = 'Bearer ' + t;
    return h;
  };
  const askToken = (r) => { $('subject').textContent = (r.code || 'HTTP_UNAUTHORIZED') + ': enter the access token (see the host log, or open this page as /preview#token=...)'; $('token').focus(); };
  function setWidth(mode) {
    $('html').className = mode;
    $('width-phone').setAttribute('aria-pressed', String(mode === 'phone'));
    $('width-desktop').setAttribute('aria-pressed', String(mode === 'desktop'));
  }
  async function loadTenants() {
    const url = ${JSON.stringify(o.tenantsEndpoint ?? null)};
    if (!url) return;
    const res = await fetch(url, { headers: headers(false) });
    const r = await res.json();
    if (res.status === 401) return askToken(r);
    if (!res.ok) return;
    $('tenants').replaceChildren(...r.tenants.map((t) => Object.assign(document.createElement('option'), { value: t })));
    if (!$('tenant').value && r.tenants.length) $('tenant').value = r.tenants[0];
  }
  async function render() {
    const sources = {};
    for (const p of ['subject', 'text', 'html']) { const v = $('src-' + p).value; if (v.trim()) sources[p] = v; }
    const body = { tenant: $('tenant').value.trim(), eventType: $('eventType').value };
    if (!body.tenant) return;
    if ($('language').value) body.language = $('language').value;
    if (Object.keys(sources).length) body.sources = sources;
    const res = await fetch(${JSON.stringify(endpoint)}, { method: 'POST', headers: headers(true), body: JSON.stringify(body) });
    const r = await res.json();
    $('problems').replaceChildren();
    if (!res.ok) { $('html').srcdoc = ''; $('text').textContent = ''; if (res.status === 401) return askToken(r); $('subject').textContent = (r.code || 'error') + ': ' + (r.message || res.status); return; }
    $('subject').textContent = r.subject + '  [' + r.language + ']';
    $('html').srcdoc = r.html;
    $('text').textContent = r.text;
    for (const p of r.problems || []) {
      const li = document.createElement('li');
      li.textContent = p.template + (p.line ? ':' + p.line + (p.column ? ':' + p.column : '') : '') + ' ' + p.message;
      $('problems').append(li);
    }
  }
  const show = (e) => { $('subject').textContent = String(e); };
  $('token').addEventListener('change', () => { store.set($('token').value.trim()); $('token').value = ''; loadTenants().then(render).catch(show); });
  $('width-phone').addEventListener('click', () => setWidth('phone'));
  $('width-desktop').addEventListener('click', () => setWidth('desktop'));
  setWidth(matchMedia('(max-width: 700px)').matches ? 'phone' : 'desktop');
  $('render').addEventListener('click', () => render().catch(show));
  for (const id of ['eventType', 'language']) $(id).addEventListener('change', () => render().catch(() => {}));
  loadTenants().then(render).catch(() => {});
})();
</script>
</body>
</html>
`;
}
