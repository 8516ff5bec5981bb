import { expect } from 'chai';
import { HelperRegistry } from '../../src/extensions';
import { PluginError } from '../../src/errors';
import { Renderer } from '../../src/templates';
import { safeString } from '../../src/templates/safe-string';
import { safeUrl } from '../../src/templates/url-attributes';
import { missed } from '../helpers/events';
import { KINDS, rec, recordingLog, tenant, TEMPLATES_ROOT } from './fixtures';

const T = 'acme.example.com';

function refusal(fn: () => unknown): PluginError {
  try {
    fn();
  } catch (e) {
    expect(e).to.be.instanceOf(PluginError);
    return e as PluginError;
  }
  throw new Error('not refused');
}

describe('templates: urlencode, tel, URL attributes and extension helpers', () => {
  const logs = recordingLog();
  const helpers = new HelperRegistry();
  helpers.define('shout', (s: unknown) => `${String(s).toUpperCase()} <b>`, 'test');
  helpers.define('badge', (s: unknown) => safeString(`<b class="badge">${String(s).replace(/</g, '&lt;')}</b>`), 'test');
  helpers.define('lookalike', () => ({ toHTML: () => '<img src=x onerror=alert(1)>', toString: () => '<img src=x onerror=alert(1)>' }), 'test');
  helpers.define('wrap', function (this: unknown, options: { fn(c: unknown): string }) {
    return `<i>${options.fn(this)}</i>`;
  }, 'test');
  const renderer = new Renderer(TEMPLATES_ROOT, logs.log, undefined, KINDS, helpers.map());
  after(() => renderer.dispose());

  /** Renders a tenant's missed-call mail; `html` is the tenant's body only (CSS inlining re-serialises it, so = in attributes is plain). */
  const render = (html: string, text = '{{caller.number}}', caller: Record<string, unknown> = { number: '+1 (555) 0122', name: 'Bob' }) => {
    const r = renderer.render(rec(missed(T, {}, { caller })), tenant(T, { templates: { 'call.missed': { html, text } } }));
    const start = r.html.indexOf('>', r.html.indexOf('class="content"')) + 2;
    return { ...r, html: r.html.slice(start, r.html.indexOf('</td></tr>\n<tr><td class="footer"')) };
  };

  it('urlencode and tel build a CRM link and a click-to-call link', () => {
    const r = render('<a href="https://crm.example/lookup?phone={{urlencode caller.number}}">crm</a> <a href="{{tel caller.number}}">call</a>', '{{urlencode caller.number}} {{tel caller.number}}');
    expect(r.html).to.equal('<a href="https://crm.example/lookup?phone=%2B1%20(555)%200122">crm</a> <a href="tel:+15550122">call</a>');
    expect(r.text).to.equal('%2B1%20(555)%200122 tel:+15550122\n');
    expect(render('{{tel caller.number}}', '{{tel caller.number}}', { number: 'anonymous' }).text).to.equal('\n');
  });

  it('a value that starts an href or src renders as # unless it is http:, https:, mailto: or tel:', () => {
    for (const name of ['javascript:alert(1)', ' JavaScript:alert(1)', 'java\tscript:alert(1)', 'data:text/html;base64,PHNjcmlwdD4=', 'vbscript:x', '//evil.example/x', '/relative']) {
      const r = render(`<a href="{{caller.name}}">x</a><img src='{{caller.name}}'><a title="t" href={{caller.name}}>y</a>{{#if caller.name}}<a href="{{caller.name}}">z</a>{{/if}}`, 'x', { number: '1', name });
      expect(r.html, name).to.contain('<a href="#">x</a>');
      expect(r.html, name).to.contain(`<img src="#">`);
      expect(r.html, name).to.contain('<a title="t" href="#">y</a>');
      expect(r.html, name).to.contain('<a href="#">z</a>');
      expect(r.html, name).to.not.match(/script:|data:|evil/i);
    }
    for (const url of ['https://crm.example/x', 'http://crm.example/x', 'mailto:alice@acme.example.com', 'tel:+15550100']) {
      expect(render('<a href="{{caller.name}}">x</a>', 'x', { number: '1', name: url }).html, url).to.equal(`<a href="${url}">x</a>`);
    }
    // Later in the attribute a value cannot set the scheme: left as it is (and escaped).
    expect(render('<a href="https://crm.example/?q={{caller.name}}">x</a>', 'x', { number: '1', name: 'javascript:alert(1)' }).html).to.equal('<a href="https://crm.example/?q=javascript:alert(1)">x</a>');
    // Text outside attributes is just text.
    expect(render('<p>{{caller.name}}</p>', 'x', { number: '1', name: 'javascript:alert(1)' }).html).to.equal('<p style="margin: 0 0 16px;">javascript:alert(1)</p>');
    expect(safeUrl('')).to.equal('');
    expect(safeUrl('\u0000javascript:x')).to.equal('#');
  });

  it('extension helper output is escaped unless made with safeString (a look-alike is escaped too), in block helpers as well; in text parts it stays text', () => {
    const r = render('{{shout caller.name}}|{{badge caller.name}}|{{lookalike caller.name}}|{{#wrap}}<u>{{caller.name}}</u>{{/wrap}}', '{{shout caller.name}}|{{#wrap}}{{caller.name}}{{/wrap}}');
    expect(r.html).to.equal('BOB &lt;b&gt;|<b class="badge">Bob</b>|&lt;img src&#x3D;x onerror&#x3D;alert(1)&gt;|&lt;i&gt;&lt;u&gt;Bob&lt;/u&gt;&lt;/i&gt;');
    expect(r.text).to.equal('BOB <b>|<i>Bob</i>\n');
    expect(logs.lines.filter((l) => l.fields?.code === 'TEMPLATE_INVALID')).to.deep.equal([]);
  });

  it('refuses a helper whose name a built-in helper has, another extension took, that is not an identifier, or that is not a function (HELPER_INVALID)', () => {
    const reg = new HelperRegistry();
    reg.define('mine', () => '', 'one');
    for (const [name, fn, msg] of [
      ['phone', () => '', 'helper phone: a built-in helper has that name'],
      ['urlencode', () => '', 'helper urlencode: a built-in helper has that name'],
      ['each', () => '', 'helper each: a built-in helper has that name'],
      ['log', () => '', 'helper log: a built-in helper has that name'],
      ['__url', () => '', 'helper name: expected letters, digits and _ starting with a letter, received "__url"'],
      ['mine', () => '', 'helper mine: already added by one'],
      ['my-helper', () => '', 'helper name: expected letters, digits and _ starting with a letter, received "my-helper"'],
      ['fine', 'nope', 'helper fine must be a function, received string'],
    ] as const) {
      const e = refusal(() => reg.define(name, fn as never, 'two'));
      expect(e.code, name).to.equal('HELPER_INVALID');
      expect(e.message, name).to.equal(msg);
    }
    expect([...reg.map().keys()]).to.deep.equal(['mine']);
  });
});
