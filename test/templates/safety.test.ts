import { expect } from 'chai';
import { PluginError } from '../../src/errors';
import { assertSafe, Renderer, type TemplateProblem } from '../../src/templates';
import { missed, voicemail } from '../helpers/events';
import { rec, recordingLog, tenant, TEMPLATES_ROOT } from './fixtures';

function refused(source: string, kind: 'subject' | 'html' | 'partial' = 'html'): PluginError {
  try {
    assertSafe(source, kind);
  } catch (e) {
    expect(e).to.be.instanceOf(PluginError);
    expect((e as PluginError).code).to.equal('TEMPLATE_INVALID');
    return e as PluginError;
  }
  throw new Error(`not refused: ${source}`);
}

describe('templates: safe customisation', () => {
  let renderer: Renderer;
  let logs: ReturnType<typeof recordingLog>;

  beforeEach(() => {
    logs = recordingLog();
    renderer = new Renderer(TEMPLATES_ROOT, logs.log);
  });
  afterEach(() => renderer.dispose());

  it('refuses unescaped output, unknown helpers, dynamic and odd partials, decorators, oversize sources', () => {
    expect(refused('Hi\n  {{{caller.name}}}').message).to.contain('line 2, column 3');
    refused('{{& caller.name}}');
    expect(refused('{{log caller.name}}').message).to.contain('"log" is not an allowed helper');
    refused('{{helperMissing caller.name}}');
    refused('{{#blockHelperMissing caller}}x{{/blockHelperMissing}}');
    refused('{{> (lookup . "x")}}');
    refused('{{> constructor}}');
    refused('{{> __proto__}}');
    refused('{{* foo}}');
    refused('x'.repeat(2001), 'subject');
    expect(refused('{{#if a}}\n{{/iff}}').message).to.match(/line 1/);
    expect(refused('ok\n{{caller.name}').message).to.match(/syntax error.*\(line 2, column \d+\)/);
    expect(() => assertSafe('{{#each recipient.email}}{{this}}{{/each}} {{datetime event.occurredAt}} {{> details-row label="a" value=caller.name}} {{#*inline "x"}}y{{/inline}}')).not.to.throw();
  });

  it('renders prototype gadgets as nothing and never crashes', () => {
    const gadgets = [
      '{{constructor}}',
      '{{__proto__}}',
      '{{lookup this "constructor"}}',
      '{{lookup (lookup this "constructor") "prototype"}}',
      '{{#with constructor}}{{name}}{{/with}}',
      '{{#with __proto__}}{{constructor}}{{/with}}',
      '{{caller.constructor.name}}',
      '{{this.__proto__.toString}}',
      '{{#each (lookup this "__proto__")}}{{@key}}{{/each}}',
      '{{lookup caller "__defineGetter__"}}',
      '{{recipient.email.constructor}}',
    ];
    for (const g of gadgets) {
      const problems: TemplateProblem[] = [];
      const t = tenant('a.example.com', { templates: { 'call.missed': { subject: `[${g}]`, text: `[${g}]\n`, html: `<p>[${g}]</p>` } } });
      const m = renderer.render(rec(missed('a.example.com')), t, { problems });
      expect(problems, g).to.deep.equal([]);
      expect(m.subject, g).to.equal('[]');
      expect(m.text, g).to.equal('[]\n');
      expect(m.html, g).to.match(/<p[^>]*>\[\]<\/p>/);
    }
  });

  it('escapes event data in HTML, helpers included', () => {
    const ev = missed('a.example.com', {}, { caller: { number: '+15550122', name: '<img src=x onerror=alert(1)>' } });
    const t = tenant('a.example.com', { templates: { 'call.missed': { html: '<p>{{caller.name}}|{{default caller.name "x"}}|{{phone caller.name}}|{{lookup caller "name"}}</p>' } } });
    const m = renderer.render(rec(ev), t);
    expect(m.html).not.to.contain('<img src=x');
    expect(/<p[^>]*>(.*)<\/p>/.exec(m.html)![1]!.split('|')).to.deep.equal(Array(4).fill('&lt;img src&#x3D;x onerror&#x3D;alert(1)&gt;'));
  });

  it('falls back part by part when a tenant template is broken, and logs it once with tenant, template and line', () => {
    const t = tenant('a.example.com', { templates: { 'call.missed': { subject: 'Ok {{caller.number}}', html: '<p>\n  {{#if caller.name}}unclosed</p>' } } });
    for (let i = 0; i < 3; i++) {
      const m = renderer.render(rec(missed('a.example.com')), t);
      expect(m.subject).to.equal('Ok +15550122');
      expect(m.html).to.contain('Missed call');
    }
    const warned = logs.lines.filter((l) => l.level === 'warn');
    expect(warned).to.have.length(1);
    expect(warned[0]!.fields).to.include({ code: 'TEMPLATE_INVALID', tenant: 'a.example.com', template: 'tenants/a.example.com/templates/call.missed/html', line: 2 });
    // Another tenant renders normally and adds no report.
    const other = renderer.render(rec(missed('b.example.com')), tenant('b.example.com', { templates: { 'call.missed': { html: '<p>B {{caller.number}}</p>' } } }));
    expect(other.html).to.match(/<p[^>]*>B \+15550122<\/p>/);
    expect(logs.lines.filter((l) => l.level === 'warn')).to.have.length(1);
  });

  it('falls back when a tenant template fails at run time, reporting the line', () => {
    const t = tenant('a.example.com', { templates: { 'voicemail.received': { text: 'a\nb {{> no-such-partial}}\n' } } });
    const problems: TemplateProblem[] = [];
    const m = renderer.render(rec(voicemail('a.example.com')), t, { problems });
    expect(m.text).to.contain('you have a new voicemail');
    expect(problems).to.have.length(1);
    expect(problems[0]!.message).to.contain('no-such-partial');
  });

  it('falls back from a broken tenant layout and partial to the defaults', () => {
    const t = tenant('a.example.com', { layout: '<html>{{#if}}</html>', partials: { 'details-row': '{{{value}}}' } });
    const problems: TemplateProblem[] = [];
    const m = renderer.render(rec(missed('a.example.com')), t, { problems });
    expect(m.html).to.match(/<html lang="en"[\s>]/);
    expect(m.html).to.contain('<td class="label"');
    expect(problems.map((p) => p.template).sort()).to.deep.equal(['tenants/a.example.com/layout', 'tenants/a.example.com/partials/details-row']);
  });

  it('never lets one tenant reach another tenant partials', () => {
    const a = tenant('a.example.com', { partials: { secret: 'A-SECRET', 'details-row': '<tr><td>A-ROW {{label}}</td></tr>' } });
    const b = tenant('b.example.com', { templates: { 'call.missed': { html: '<p>{{> secret}}</p>' } } });
    const ma = renderer.render(rec(missed('a.example.com')), { ...a, templates: { 'call.missed': { html: '<p>{{> secret}}</p><table>{{> details-row label="x" value="y"}}</table>' } } });
    expect(ma.html).to.match(/<p[^>]*>A-SECRET<\/p>/);
    expect(ma.html).to.contain('A-ROW x');
    const problems: TemplateProblem[] = [];
    const mb = renderer.render(rec(missed('b.example.com')), b, { problems });
    expect(mb.html).not.to.contain('A-SECRET');
    expect(problems).to.have.length(1);
    expect(problems[0]!.message).to.contain('secret');
    // B's default templates use the default details-row, not A's.
    const mb2 = renderer.render(rec(missed('b.example.com')), tenant('b.example.com'));
    expect(mb2.html).not.to.contain('A-ROW');
    // And A's partials come back after B rendered.
    expect(renderer.render(rec(missed('a.example.com')), a).html).to.contain('A-ROW');
  });
});
