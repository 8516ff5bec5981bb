import { expect } from 'chai';
import { register as globalRegistry } from 'prom-client';
import { OTHER_TENANT, PluginMetrics, reasonCode, TenantLabels } from '../../src/metrics';
import { parsePrometheusText, PromParseError, sampleSum, sampleValue } from '../helpers/prom-text';

const sources = (queue = async () => [] as { state: string; count: number; oldestCreatedAt: number }[]) => ({ queue, heldTenants: () => 0 });

describe('metrics: PluginMetrics', () => {
  it('bounds the tenant label: configured tenants first (sorted), then accepted ones, the rest _other; refusals never claim one', async () => {
    const m = new PluginMetrics({ sources: sources(), maxTenantLabels: 3 });
    m.tenants.reserve(['b.example.com', 'a.example.com']);
    m.refused('EVENT_INVALID', 'x.example.com');
    m.accepted('c.example.com');
    m.accepted('d.example.com');
    m.accepted('a.example.com');
    m.refused('EVENT_INVALID', 'd.example.com');
    m.refused('EVENT_INVALID', { not: 'a string' });
    m.reported('email.delivered', { tenant: 'd.example.com' });
    m.reported('email.failed', { tenant: 'c.example.com', reason: 'bob@c.example.com: SMTP_PERMANENT (RCPT TO): 550 5.1.1 no such user' });
    const f = parsePrometheusText((await m.text()).text);
    expect(f.get('pbx_email_accepted_total')!.samples.map((s) => [s.labels.tenant, s.value])).to.deep.equal([
      ['c.example.com', 1],
      [OTHER_TENANT, 1],
      ['a.example.com', 1],
    ]);
    expect(sampleValue(f, 'pbx_email_refused_total', { code: 'EVENT_INVALID', tenant: OTHER_TENANT })).to.equal(3);
    expect(sampleValue(f, 'pbx_email_delivered_total', { tenant: OTHER_TENANT })).to.equal(1);
    expect(sampleValue(f, 'pbx_email_failed_total', { tenant: 'c.example.com', code: 'SMTP_PERMANENT' })).to.equal(1);
    expect(sampleValue(f, 'pbx_email_tenant_label_limit')).to.equal(3);
    expect(m.tenants.size).to.equal(3);
  });

  it('a tenant label is never anything but a tenant id, and codes are the catalog or OTHER', () => {
    const t = new TenantLabels(10);
    expect(t.label('a b', true)).to.equal(OTHER_TENANT);
    expect(t.label('x'.repeat(254), true)).to.equal(OTHER_TENANT);
    expect(t.label('"}\n', true)).to.equal(OTHER_TENANT);
    expect(t.size).to.equal(0);
    expect(reasonCode('SMTP_TIMEOUT: no final reply within 8000 ms')).to.equal('SMTP_TIMEOUT');
    expect(reasonCode('MY_OWN_WORDS: 550 SMTP_FAKE')).to.equal('OTHER');
    expect(reasonCode(undefined)).to.equal('OTHER');
    expect(() => new TenantLabels(-1)).to.throw(RangeError);
  });

  it('each instance has its own registry: nothing in the global one, nothing shared', async () => {
    const a = new PluginMetrics({ sources: sources() });
    const b = new PluginMetrics({ sources: sources() });
    a.accepted('a.example.com');
    a.accepted('a.example.com');
    b.accepted('a.example.com');
    expect(sampleValue(parsePrometheusText((await a.text()).text), 'pbx_email_accepted_total', { tenant: 'a.example.com' })).to.equal(2);
    expect(sampleValue(parsePrometheusText((await b.text()).text), 'pbx_email_accepted_total', { tenant: 'a.example.com' })).to.equal(1);
    expect(await globalRegistry.metrics()).not.to.contain('pbx_email_');
  });

  it('queue gauges come from one spool reading per scrape; a spool that throws leaves them out and the scrape still answers', async () => {
    let fail = false;
    const now = 1_000_000;
    const m = new PluginMetrics({
      sources: {
        queue: async () => {
          if (fail) throw Object.assign(new Error('disk gone'), { code: 'SPOOL_FAILURE' });
          return [{ state: 'queued', count: 4, oldestCreatedAt: now - 90_000 }, { state: 'failed', count: 1, oldestCreatedAt: now - 1_000 }];
        },
        heldTenants: () => 2,
        now: () => now,
      },
    });
    m.delivery.session(0.3, 'sent');
    m.delivery.session(12, 'error');
    m.render.rendered(0.004, 'inline');
    m.spool.wrote('accept', 0.002);
    const f = parsePrometheusText((await m.text()).text);
    expect(sampleValue(f, 'pbx_email_queue_messages', { state: 'queued' })).to.equal(4);
    expect(sampleValue(f, 'pbx_email_queue_oldest_age_seconds', { state: 'queued' })).to.equal(90);
    expect(sampleValue(f, 'pbx_email_queue_oldest_age_seconds', { state: 'failed' })).to.equal(1);
    expect(sampleValue(f, 'pbx_email_tenants_held')).to.equal(2);
    expect(sampleValue(f, 'pbx_email_smtp_session_seconds_bucket', { result: 'sent', le: '0.5' })).to.equal(1);
    expect(sampleValue(f, 'pbx_email_smtp_session_seconds_bucket', { result: 'error', le: '10' })).to.equal(0);
    expect(sampleValue(f, 'pbx_email_smtp_session_seconds_count', { result: 'error' })).to.equal(1);
    expect(sampleSum(f, 'pbx_email_render_seconds_count')).to.equal(1);
    expect(sampleValue(f, 'pbx_email_spool_write_seconds_count', { op: 'accept' })).to.equal(1);
    fail = true;
    const g = parsePrometheusText((await m.text()).text);
    expect(g.get('pbx_email_queue_messages')!.samples).to.deep.equal([]);
    expect(sampleValue(g, 'pbx_email_tenants_held')).to.equal(2);
  });
});

describe('metrics: the strict text parser used by these tests', () => {
  const bad: [string, string][] = [
    ['no final newline', '# TYPE a counter\na 1'],
    ['sample before TYPE', 'a 1\n'],
    ['bad value', '# TYPE a gauge\na one\n'],
    ['bad escape', '# TYPE a gauge\na{x="\\t"} 1\n'],
    ['duplicate series', '# TYPE a gauge\na{x="1"} 1\na{x="1"} 2\n'],
    ['non-cumulative buckets', '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n'],
    ['count differs from +Inf', '# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 1\n'],
    ['TYPE twice', '# TYPE a gauge\n# TYPE a gauge\n'],
    ['bad label name', '# TYPE a gauge\na{1x="1"} 1\n'],
  ];
  for (const [what, text] of bad) it(`refuses ${what}`, () => expect(() => parsePrometheusText(text)).to.throw(PromParseError));
  it('reads escapes, +Inf and timestamps', () => {
    const f = parsePrometheusText('# HELP a says \\\\ and \\n\n# TYPE a gauge\na{x="q\\"\\\\\\n"} +Inf 1700000000000\n');
    expect(f.get('a')!.help).to.equal('says \\ and \n');
    expect(f.get('a')!.samples).to.deep.equal([{ name: 'a', labels: { x: 'q"\\\n' }, value: Infinity }]);
  });
});
