import { PREVIEW_TOKEN_KEY } from '../templates/preview-page';

export interface OpsPageOptions {
  /** CSP nonce for the page's one inline script and style; send `previewPageHeaders(nonce)` with it (the same policy as /preview). */
  nonce: string;
  /** Event types offered for a test-send. */
  eventTypes: readonly string[];
  /** How often the page reloads what it shows, in milliseconds. @default 5_000 */
  refreshMs?: number;
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * The reference host's operator page (`GET /ops`): a shell holding no data, served without the
 * token. It asks for the token once (or takes it from `/ops#token=…`) and keeps it in
 * sessionStorage (the same key as /preview, so one entry serves both), then calls the
 * operations API with it: `GET /status` for the tenants (state, hold and its reason, depth by
 * state, last success and failure), `GET /messages?tenant=T&limit=20` for each tenant's recent
 * mail, `GET /messages/T/ID` for one message's delivery log, and the buttons retry
 * (`POST …/retry`), discard (`DELETE`), flush (`POST /tenants/T/flush`) and test-send
 * (`POST /tenants/T/test`). Everything from the server is put in the page as text, never as HTML.
 * No external assets; the CSP allows only its nonce-tagged script and style.
 */
export function opsPage(o: OpsPageOptions): string {
  const nonce = ` nonce="${esc(o.nonce)}"`;
  const config = JSON.stringify({ key: PREVIEW_TOKEN_KEY, refreshMs: o.refreshMs ?? 5_000 }).replace(/</g, '\\u003c');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Mail operations</title>
<style${nonce}>
*, *::before, *::after { box-sizing: border-box; }
body { margin: 0; font-family: system-ui, sans-serif; color: #111827; background: #f9fafb; font-size: 14px; }
header { padding: 12px 20px; background: #fff; border-bottom: 1px solid #e5e7eb; display: flex; gap: 12px; flex-wrap: wrap; align-items: end; }
h1 { font-size: 18px; margin: 0 auto 0 0; align-self: center; }
h2 { font-size: 16px; margin: 20px 0 8px; overflow-wrap: anywhere; }
label { display: flex; flex-direction: column; font-size: 13px; color: #374151; gap: 4px; min-width: 0; }
input, select, button { font: inherit; padding: 5px 8px; border: 1px solid #9ca3af; border-radius: 4px; max-width: 100%; }
button { background: #1d4ed8; color: #fff; border-color: #1d4ed8; cursor: pointer; }
button.quiet { background: #fff; color: #1d4ed8; }
button.danger { background: #b91c1c; border-color: #b91c1c; }
main { padding: 8px 20px 40px; }
#notice { margin: 0; padding: 8px 20px; min-height: 2.2em; overflow-wrap: anywhere; }
#notice.error { color: #b91c1c; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; background: #fff; width: 100%; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #e5e7eb; vertical-align: top; overflow-wrap: break-word; }
th { font-weight: 600; font-size: 12px; color: #374151; background: #f3f4f6; white-space: nowrap; }
td.nowrap { white-space: nowrap; }
td.actions { white-space: nowrap; }
td.actions button { padding: 2px 8px; margin-right: 4px; }
.state { font-weight: 600; }
.state-delivered { color: #047857; } .state-failed, .state-discarded { color: #b91c1c; } .state-partial, .state-deferred { color: #b45309; }
.held { color: #b91c1c; font-weight: 600; }
.log { background: #f9fafb; }
.log table { margin: 4px 0 8px; }
form.test { display: flex; gap: 8px; flex-wrap: wrap; align-items: end; margin: 4px 0 12px; }
@media (max-width: 700px) { header, main, #notice { padding-left: 12px; padding-right: 12px; } }
</style>
</head>
<body>
<header>
<h1>Mail operations</h1>
<label>Access token <input id="token" type="password" autocomplete="off" spellcheck="false" placeholder="kept for this tab only"></label>
<button id="refresh" type="button" class="quiet">Refresh</button>
</header>
<p id="notice" role="status" aria-live="polite"></p>
<main>
<section aria-labelledby="tenants-title"><h2 id="tenants-title">Tenants</h2><div class="scroll"><table id="tenants"><thead><tr><th>Tenant</th><th>State</th><th>Queued</th><th>Deferred</th><th>Delivered</th><th>Partial</th><th>Failed</th><th>Discarded</th><th>Oldest queued</th><th>Last success</th><th>Last failure</th><th></th></tr></thead><tbody></tbody></table></div></section>
<section aria-labelledby="test-title"><h2 id="test-title">Test-send</h2>
<form class="test" id="test-form">
<label>Tenant <select id="test-tenant"></select></label>
<label>Event <select id="test-event">${o.eventTypes.map((t) => `<option value="${esc(t)}">${esc(t)}</option>`).join('')}</select></label>
<label>To <input id="test-to" type="email" autocomplete="off" placeholder="you@example.com"></label>
<button id="test-send" type="submit">Send test mail</button>
</form>
<div id="test-result" class="scroll"></div>
</section>
<section aria-labelledby="messages-title"><h2 id="messages-title">Recent messages</h2><div id="messages"></div></section>
</main>
<script${nonce}>
(() => {
  const CONFIG = ${config};
  const $ = (id) => document.getElementById(id);
  const store = { get: () => { try { return sessionStorage.getItem(CONFIG.key) || ''; } catch { return ''; } }, set: (v) => { try { sessionStorage.setItem(CONFIG.key, v); } catch {} } };
  const fragment = /(?:^#|&)token=([^&]*)/.exec(location.hash);
  if (fragment) { store.set(decodeURIComponent(fragment[1])); history.replaceState(null, '', location.pathname + location.search); }
  const open = new Set();
  let busy = false;
  const el = (tag, props, ...children) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (k === 'text') e.textContent = v == null ? '' : String(v);
      else if (k === 'data') for (const [dk, dv] of Object.entries(v)) e.dataset[dk] = dv;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    for (const c of children) if (c != null) e.append(c);
    return e;
  };
  const time = (iso) => iso ? String(iso).replace(/\\.\\d{3}Z$/, 'Z').replace('T', ' ') : '-';
  const age = (ms) => ms == null ? '-' : ms < 60000 ? Math.round(ms / 1000) + ' s' : ms < 3600000 ? Math.round(ms / 60000) + ' min' : Math.round(ms / 3600000) + ' h';
  const reason = (r) => r ? (r.message.includes(r.code) ? r.message : r.code + ': ' + r.message) : '-';
  const reply = (code, text) => text != null && code != null && String(text).startsWith(String(code)) ? String(text) : [code, text].filter((x) => x != null).join(' ');
  const say = (text, error) => { $('notice').textContent = text; $('notice').className = error ? 'error' : ''; };
  class Refused extends Error { constructor(status, body) { super((body && body.code ? body.code + ': ' : '') + ((body && body.message) || 'HTTP ' + status)); this.status = status; this.body = body || {}; } }
  async function api(method, path, body) {
    const headers = { accept: 'application/json' };
    const t = store.get();
    if (t) headers.authorization = 'Bearer ' + t;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    let json;
    try { json = await res.json(); } catch { json = undefined; }
    if (!res.ok) throw new Refused(res.status, json);
    return json;
  }
  const seg = encodeURIComponent;
  const key = (m) => m.tenant + '\\u0000' + m.eventId;
  function askToken() { say('HTTP_UNAUTHORIZED: enter the access token (see the host log, or open this page as /ops#token=...)', true); $('token').focus(); }
  function failed(e) { if (e instanceof Refused && e.status === 401) return askToken(); say(String(e.message || e), true); }

  async function act(label, method, path, body) {
    try {
      const r = await api(method, path, body);
      say(label + ': ' + summary(r));
      await refresh();
      return r;
    } catch (e) { failed(e); }
  }
  function summary(r) {
    if (r && r.eventId) return r.tenant + ' ' + r.eventId + ' is now ' + r.state;
    if (r && typeof r.retried === 'number') return r.tenant + ': ' + r.retried + ' message(s) due now';
    return 'done';
  }

  function tenantRow(t) {
    const d = t.depth || {};
    const state = t.held ? el('span', { class: 'held', text: 'held' + (t.holdReason ? ' (' + t.holdReason.code + ')' : '') + (t.nextProbeAt ? ', next probe ' + time(t.nextProbeAt) : '') }) : el('span', { text: t.active ? 'sending' : 'ok' });
    const failure = t.lastFailure ? time(t.lastFailure.at) + ' ' + reason(t.lastFailure) : '-';
    return el('tr', { data: { tenant: t.tenant } },
      el('td', { text: t.tenant }), el('td', {}, state),
      ...['queued', 'deferred', 'delivered', 'partial', 'failed', 'discarded'].map((s) => el('td', { text: d[s] || 0 })),
      el('td', { class: 'nowrap', text: age(t.oldestQueuedAgeMs) }), el('td', { class: 'nowrap', text: time(t.lastSuccessAt) }), el('td', { text: failure }),
      el('td', { class: 'actions' }, el('button', { type: 'button', data: { action: 'flush' }, text: 'Flush', title: 'End the hold, probe the server now, retry all deferred mail', onclick: () => act('flush', 'POST', '/tenants/' + seg(t.tenant) + '/flush', {}) })));
  }

  function logTable(m) {
    const attempts = el('table', {}, el('thead', {}, el('tr', {}, ...['#', 'At', 'Server', 'TLS', 'Reply', 'Outcome', 'Recipients'].map((h) => el('th', { text: h })))),
      el('tbody', {}, ...(m.attemptsLog || []).map((a) => el('tr', { data: { attempt: String(a.attempt) } },
        el('td', { text: a.attempt }), el('td', { class: 'nowrap', text: time(a.at) }), el('td', { text: a.host || '-' }), el('td', { class: 'nowrap', text: a.tlsVersion || '-' }),
        el('td', { text: reply(a.replyCode, a.replyText) || '-' }), el('td', { text: a.outcome + (a.code ? ' (' + a.code + ')' : '') }),
        el('td', { text: (a.recipients || []).map((r) => r.address + ' ' + r.status + (r.replyCode != null || r.replyText != null ? ' ' + reply(r.replyCode, r.replyText) : '')).join('; ') || '-' })))));
    const log = el('table', {}, el('thead', {}, el('tr', {}, ...['At', 'Kind', 'Code', 'Detail'].map((h) => el('th', { text: h })))),
      el('tbody', {}, ...(m.log || []).map((e) => el('tr', {}, el('td', { text: time(e.at) }), el('td', { text: e.kind }), el('td', { text: e.code || '-' }), el('td', { text: [e.field, e.detail].filter(Boolean).join(' ') || '-' })))));
    return el('div', { class: 'log-body' }, el('strong', { text: 'Attempts' }), attempts, el('strong', { text: 'Delivery log' }), log);
  }

  async function messageRows(m) {
    const k = key(m);
    const row = el('tr', { data: { tenant: m.tenant, eventId: m.eventId, state: m.state } },
      el('td', { text: m.eventId }), el('td', { class: 'nowrap', text: m.eventType }), el('td', { class: 'state nowrap state-' + m.state, text: m.state }), el('td', { text: m.attempts }),
      el('td', { class: 'nowrap', text: time(m.acceptedAt) }), el('td', { text: reason(m.lastError) }),
      el('td', { class: 'actions' },
        el('button', { type: 'button', class: 'quiet', data: { action: 'log' }, 'aria-expanded': String(open.has(k)), text: open.has(k) ? 'Hide log' : 'Log', onclick: () => { open.has(k) ? open.delete(k) : open.add(k); refresh(); } }),
        el('button', { type: 'button', data: { action: 'retry' }, text: 'Retry', onclick: () => act('retry', 'POST', '/messages/' + seg(m.tenant) + '/' + seg(m.eventId) + '/retry', {}) }),
        el('button', { type: 'button', class: 'danger', data: { action: 'discard' }, text: 'Discard', onclick: () => { if (confirm('Discard ' + m.eventId + '? Its pending recipients are reported failed.')) act('discard', 'DELETE', '/messages/' + seg(m.tenant) + '/' + seg(m.eventId)); } })));
    if (!open.has(k)) return [row];
    let detail;
    try { detail = logTable(await api('GET', '/messages/' + seg(m.tenant) + '/' + seg(m.eventId))); } catch (e) { detail = el('span', { text: String(e.message || e) }); }
    return [row, el('tr', { class: 'log', data: { logOf: m.eventId } }, el('td', { colspan: '7' }, detail))];
  }

  async function refresh() {
    if (busy) return;
    busy = true;
    try {
      const status = await api('GET', '/status');
      const tenants = status.tenants || [];
      $('tenants').tBodies[0].replaceChildren(...tenants.map(tenantRow));
      const chosen = $('test-tenant').value;
      $('test-tenant').replaceChildren(...tenants.map((t) => el('option', { value: t.tenant, text: t.tenant })));
      if (chosen) $('test-tenant').value = chosen;
      const sections = [];
      for (const t of tenants) {
        const { messages } = await api('GET', '/messages?tenant=' + seg(t.tenant) + '&limit=20');
        const rows = [];
        for (const m of messages) rows.push(...await messageRows(m));
        sections.push(el('section', { data: { tenant: t.tenant } }, el('h2', { text: t.tenant }),
          messages.length ? el('div', { class: 'scroll' }, el('table', {}, el('thead', {}, el('tr', {}, ...['Event id', 'Type', 'State', 'Attempts', 'Accepted', 'Last error', ''].map((h) => el('th', { text: h })))), el('tbody', {}, ...rows))) : el('p', { text: 'no messages' })));
      }
      $('messages').replaceChildren(...sections);
      if ($('notice').className === 'error' && /UNAUTHORIZED/.test($('notice').textContent)) say('');
      document.body.dataset.loaded = String(Date.now());
    } catch (e) { failed(e); } finally { busy = false; }
  }

  $('test-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const tenant = $('test-tenant').value;
    const body = { to: $('test-to').value.trim(), eventType: $('test-event').value };
    say('sending a test mail through ' + tenant + ' ...');
    try {
      const r = await api('POST', '/tenants/' + seg(tenant) + '/test', body);
      const t = r.transcript || {};
      say('test-send ' + r.outcome + (r.code ? ' (' + r.code + ')' : ''), r.outcome !== 'delivered');
      $('test-result').replaceChildren(el('table', { id: 'test-transcript' }, el('tbody', {},
        ...[['Outcome', r.outcome + (r.code ? ' (' + r.code + ')' : '')], ['Server', t.host || '-'], ['TLS', t.tlsVersion || '-'], ['Reply', reply(t.replyCode, t.replyText) || '-'], ['Duration', t.durationMs + ' ms']]
          .map(([k, v]) => el('tr', {}, el('th', { text: k }), el('td', { text: v }))))));
    } catch (e) { failed(e); }
  });
  $('token').addEventListener('change', () => { store.set($('token').value.trim()); $('token').value = ''; refresh(); });
  $('refresh').addEventListener('click', () => refresh());
  setInterval(() => { if (!document.hidden && store.get()) refresh(); }, CONFIG.refreshMs);
  if (store.get()) refresh(); else askToken();
})();
</script>
</body>
</html>
`;
}
