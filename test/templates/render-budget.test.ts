import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEFAULT_RENDER_LIMITS, Renderer, type RenderLimits, type TemplateProblem } from '../../src/templates';
import { missed } from '../helpers/events';
import { partialBomb, rec, recordingLog, tenant, TEMPLATES_ROOT } from './fixtures';

/** Nested #each over the 10 addresses, 9 deep: 10^9 iterations, no partials, no output. */
export function loopBomb(): string {
  return `${'{{#each @root.recipient.email}}'.repeat(9)}${'{{/each}}'.repeat(9)}`;
}

const TEN = Array.from({ length: 10 }, (_, i) => `u${i}@b.example.com`);

describe('templates: the render budget', () => {
  let logs: ReturnType<typeof recordingLog>;
  let renderer: Renderer;
  const make = (limits: Partial<RenderLimits> = {}) => (renderer = new Renderer(TEMPLATES_ROOT, logs.log, { ...DEFAULT_RENDER_LIMITS, ...limits }));
  beforeEach(() => (logs = recordingLog()));
  afterEach(() => renderer?.dispose());
  const invalid = () => logs.lines.filter((l) => l.fields?.code === 'TEMPLATE_INVALID');

  it('stops the partial bomb at the partial-call cap: the html part falls back, logged once naming the limit', () => {
    make();
    const t = tenant('a.example.com', { partials: partialBomb(), templates: { 'call.missed': { subject: 'Own subject', html: '<p>{{> p8}}</p>' } } });
    for (let i = 0; i < 3; i++) {
      const problems: TemplateProblem[] = [];
      const m = renderer.render(rec(missed('a.example.com')), t, { problems });
      expect(m.subject).to.equal('Own subject');
      expect(m.html).to.contain('Missed call'); // the default html
      expect(problems).to.have.length(1);
      expect(problems[0]).to.include({ tenant: 'a.example.com', template: 'tenants/a.example.com/templates/call.missed/html', limit: 'partialCalls' });
    }
    expect(invalid()).to.have.length(1);
    expect(invalid()[0]!.fields).to.include({ tenant: 'a.example.com', template: 'tenants/a.example.com/templates/call.missed/html', limit: 'partialCalls' });
    expect(invalid()[0]!.fields!.message).to.contain('limit of 1000 partial calls per part');
  });

  it('stops a recursive partial at the depth cap', () => {
    make();
    const problems: TemplateProblem[] = [];
    const m = renderer.render(rec(missed('a.example.com')), tenant('a.example.com', { partials: { loop: 'a{{> loop}}' }, templates: { 'call.missed': { text: '{{> loop}}' } } }), { problems });
    expect(m.text).to.contain('you missed a call');
    expect(problems.map((p) => p.limit)).to.deep.equal(['partialDepth']);
  });

  it('stops output over the cap, in a loop as in a partial', () => {
    make({ outputChars: 10_000 });
    const ev = missed('a.example.com', {}, { recipient: { extension: '1', email: TEN } });
    const problems: TemplateProblem[] = [];
    const big = 'y'.repeat(2_000);
    const m = renderer.render(rec(ev), tenant('a.example.com', { partials: { big: `${big}${big}${big}` }, templates: { 'call.missed': { html: `{{#each recipient.email}}${big}{{/each}}`, text: '{{> big}}{{> big}}' } } }), { problems });
    expect(m.html).to.not.contain(big);
    expect(m.text).to.not.contain(big);
    expect(problems.map((p) => [p.template, p.limit])).to.deep.equal([
      ['tenants/a.example.com/templates/call.missed/html', 'outputChars'],
      ['tenants/a.example.com/templates/call.missed/text', 'outputChars'],
    ]);
  });

  it('stops a loop that no cap counts at the time limit; the rest of that mail uses the defaults, and the next mail skips the template at once', () => {
    make({ timeMs: 100 });
    const ev = missed('a.example.com', {}, { recipient: { extension: '1', email: TEN } });
    const t = tenant('a.example.com', { templates: { 'call.missed': { html: loopBomb(), text: 'Own text' } } });
    const first: TemplateProblem[] = [];
    const m = renderer.render(rec(ev), t, { problems: first });
    expect(m.html).to.contain('Missed call');
    expect(m.text).to.contain('you missed a call'); // out of time: the tenant text of this mail is not run either
    expect(first.map((p) => [p.template, p.limit])).to.deep.equal([['tenants/a.example.com/templates/call.missed/html', 'timeMs']]);
    const second: TemplateProblem[] = [];
    const m2 = renderer.render(rec(ev), t, { problems: second });
    expect(m2.text).to.equal('Own text\n'); // the bomb is skipped without spending the time
    expect(second.map((p) => p.limit)).to.deep.equal(['timeMs']);
    expect(renderer.cacheSizes().overTime).to.equal(1);
    expect(invalid()).to.have.length(1);
    expect(invalid()[0]!.fields!.message).to.contain('render time limit of 100 ms (delivery.renderTimeoutMs)');
  });

  it('stops the bomb in a tenant partial that a default template uses: the default runs with the default partials', () => {
    make();
    const partials = { ...partialBomb(), 'details-row': '{{> p8}}' };
    const problems: TemplateProblem[] = [];
    const m = renderer.render(rec(missed('a.example.com')), tenant('a.example.com', { partials }), { problems });
    expect(m.html).to.contain('Missed call');
    expect(problems.map((p) => p.limit)).to.include('partialCalls');
  });

  it('never caches unsaved preview sources, and keeps every cache bounded', () => {
    make();
    const t = tenant('a.example.com', { templates: { 'call.missed': { subject: 'Saved' } } });
    renderer.render(rec(missed('a.example.com')), t);
    const before = renderer.cacheSizes();
    for (let i = 0; i < 300; i++) {
      renderer.render(rec(missed('a.example.com')), t, { sources: { subject: `Draft ${i}`, partials: { [`x${i}`]: `draft ${i}` }, layout: `{{> @partial-block}} ${i}` } });
    }
    const after = renderer.cacheSizes();
    expect(after.compiled).to.equal(before.compiled);
    expect(after.partialSets).to.equal(before.partialSets);
    expect(renderer.render(rec(missed('a.example.com')), t).subject).to.equal('Saved');
  });

  it('keeps at most 256 watched template directories, closing the watchers of the ones it lets go', () => {
    make();
    const base = fs.mkdtempSync(path.join(os.tmpdir(), 'pbx-dirs-'));
    try {
      for (let i = 0; i < 300; i++) {
        const dir = path.join(base, `t${i}`);
        fs.mkdirSync(dir);
        fs.writeFileSync(path.join(dir, 'call.missed.subject.hbs'), `Dir ${i}`);
        expect(renderer.render(rec(missed(`t${i}.example.com`)), tenant(`t${i}.example.com`, { templatesDir: dir })).subject).to.equal(`Dir ${i}`);
      }
      expect(renderer.cacheSizes().directories).to.equal(256);
      expect(renderer.cacheSizes().watchers).to.equal(256);
      renderer.dispose();
      expect(renderer.cacheSizes().watchers).to.equal(0);
    } finally {
      fs.rmSync(base, { recursive: true, force: true });
    }
  });
});
