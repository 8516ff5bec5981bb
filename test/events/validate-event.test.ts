import { expect } from 'chai';
import { SchemaRegistry } from '../../src/config';
import { PluginError } from '../../src/errors';
import { builtInKinds } from '../../src/kinds';
import { fax, missed, voicemail } from '../helpers/events';

describe('events: validateEvent', () => {
  const kinds = builtInKinds(new SchemaRegistry());
  const validateEvent = (raw: unknown, _schemas?: unknown) => kinds.validate(raw);
  const schemas = undefined;
  const T = 'a.example.com';

  function refusal(raw: unknown): PluginError {
    try {
      validateEvent(raw, schemas);
    } catch (e) {
      expect(e).to.be.instanceOf(PluginError);
      return e as PluginError;
    }
    throw new Error('accepted');
  }

  it('accepts each event type with only its required fields', () => {
    for (const e of [voicemail(T), fax(T), missed(T)]) {
      delete (e.data as Record<string, unknown>).ringSeconds;
      expect(validateEvent(e, schemas).id).to.equal(e.id);
    }
  });

  it('accepts every RFC 3339 spelling of occurredAt, a leap second included (read as :59)', () => {
    for (const at of ['2026-11-28T12:00:00Z', '2026-11-28t12:00:00z', '2026-11-28T12:00:00.123456+05:30', '2026-11-28T12:00:00-00:00']) {
      expect(validateEvent(missed(T, { occurredAt: at }), schemas).occurredAt, at).to.equal(at);
    }
    const leap = validateEvent(missed(T, { occurredAt: '2016-12-31T23:59:60Z' }), schemas);
    expect(leap.occurredAt).to.equal('2016-12-31T23:59:59Z');
    expect(new Date(leap.occurredAt).toISOString()).to.equal('2016-12-31T23:59:59.000Z');
  });

  it('refuses dates that are not dates, naming /occurredAt', () => {
    for (const at of ['2026-02-30T12:00:00Z', '2026-11-28T24:00:00Z', '2026-11-28', '12:00:00Z', '2026-11-28T12:00:00', '2026-11-28T23:58:60Z']) {
      const e = refusal(missed(T, { occurredAt: at }));
      expect(e.code, at).to.equal('EVENT_INVALID');
      expect(e.field, at).to.equal('/occurredAt');
    }
  });

  it('the problems list names each offending path once, and field is the first', () => {
    const e = refusal(fax(T, { extra: 1 }, { pages: -1, status: 'x' }));
    expect(e.code).to.equal('EVENT_INVALID');
    const paths = e.problems!.map((p) => p.path);
    expect(paths).to.include.members(['/extra', '/data/pages', '/data/status']);
    expect(e.field).to.equal(paths[0]);
  });
});
