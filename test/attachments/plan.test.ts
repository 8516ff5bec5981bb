import { expect } from 'chai';
import { DEFAULT_MAX_ATTACHMENT_BYTES, planAttachments } from '../../src/attachments';
import { resolveConfig, SchemaRegistry, TenantDirectory } from '../../src/config';
import { builtInKinds } from '../../src/kinds';
import type { SpoolRecord } from '../../src/spool';

const rec = (type: SpoolRecord['type'], size: number): SpoolRecord =>
  ({
    seq: 1, eventId: 'ev/1?x', tenant: 'acme', type, state: 'queued', attempts: 0, createdAt: 0, nextAttemptAt: 0, messageId: '<x@acme.example>', pending: [], delivered: [], failed: [],
    event: { id: 'ev/1?x', type, tenant: 'acme', occurredAt: '2026-11-28T12:00:00Z', data: { recipient: { extension: '2/01', email: ['a@acme.example'] }, caller: { number: '1' } } },
    attachments: [{ path: '/spool/x/recording', contentType: 'audio/wav', size, role: type === 'fax.received' ? 'document' : 'recording' }],
  }) as unknown as SpoolRecord;

describe('planAttachments', () => {
  const schemas = new SchemaRegistry();
  const kinds = builtInKinds(schemas);
  const dir = (defaults: object, own: object) => new TenantDirectory(resolveConfig({ defaults: { from: 'pbx@acme.example', smtp: { host: 'h' }, ...defaults }, tenants: { acme: own } }, schemas)).get('acme')!;

  it('defaults to 10 MB: at the limit attached, one byte more left out', () => {
    const t = dir({}, {});
    expect(planAttachments(rec('voicemail.received', DEFAULT_MAX_ATTACHMENT_BYTES), t).attached).to.have.length(1);
    const over = planAttachments(rec('voicemail.received', DEFAULT_MAX_ATTACHMENT_BYTES + 1), t);
    expect(over.attached).to.have.length(0);
    expect(over.omitted?.size).to.equal(DEFAULT_MAX_ATTACHMENT_BYTES + 1);
    expect(over.url).to.equal(undefined);
  });

  it("merges attachments key by key over defaults, and picks the URL template the event's kind names", () => {
    const t = dir({ attachments: { maxBytes: 100, recordingUrl: 'https://pbx.example/vm/{eventId}', faxUrl: 'https://pbx.example/fax/{extension}' } }, { attachments: { maxBytes: 5000 } });
    expect(t.attachments).to.deep.equal({ maxBytes: 5000, recordingUrl: 'https://pbx.example/vm/{eventId}', faxUrl: 'https://pbx.example/fax/{extension}' });
    expect(planAttachments(rec('voicemail.received', 4000), t, kinds.get('voicemail.received'))).to.deep.include({ url: 'https://pbx.example/vm/ev%2F1%3Fx' });
    expect(planAttachments(rec('fax.received', 6000), t, kinds.get('fax.received'))).to.deep.include({ url: 'https://pbx.example/fax/2%2F01' });
    expect(planAttachments(rec('call.missed', 0), t, kinds.get('call.missed')).url).to.equal(undefined);
  });

  it('refuses a URL template that is not http(s) (CONFIG_INVALID)', () => {
    expect(() => dir({}, { attachments: { recordingUrl: 'javascript:alert(1)' } })).to.throw().with.property('code', 'CONFIG_INVALID');
  });
});
