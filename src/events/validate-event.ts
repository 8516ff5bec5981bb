import { PluginError } from '../errors';
import { toProblems, type SchemaRegistry } from '../config';
import { isEventType, type KnownEvent } from './event-types';

/**
 * Checks an envelope against its type's schema. Rejects with EVENT_TYPE_UNKNOWN or
 * EVENT_INVALID, whose `field` is the JSON pointer of the first offending value and whose
 * `problems` list them all.
 */
export function validateEvent(raw: unknown, schemas: SchemaRegistry): KnownEvent {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new PluginError('EVENT_INVALID', `expected an event object, received ${raw === null ? 'null' : typeof raw}`, { field: '/' });
  }
  const type = (raw as { type?: unknown }).type;
  if (!isEventType(type)) {
    throw new PluginError('EVENT_TYPE_UNKNOWN', `/type: expected one of voicemail.received, fax.received, call.missed, received ${JSON.stringify(type)?.slice(0, 80)}`, {
      field: '/type',
    });
  }
  const validate = schemas.validator(`events/${type}.schema.json`);
  if (!validate(raw)) {
    const problems = toProblems(validate.errors);
    const list = problems.map((p) => `${p.path} ${p.message}`).join('; ');
    throw new PluginError('EVENT_INVALID', `invalid ${type} event: ${list}`, { field: problems[0]!.path, problems });
  }
  const occurredAt = (raw as { occurredAt: string }).occurredAt;
  if (Number.isNaN(Date.parse(occurredAt))) {
    // RFC 3339 allows a leap second (23:59:60), which Date cannot hold: read it as :59 rather than refuse the event.
    const leap = occurredAt.replace(/^(\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d):60/, '$1:59');
    if (leap === occurredAt || Number.isNaN(Date.parse(leap))) {
      throw new PluginError('EVENT_INVALID', 'invalid event: /occurredAt is not a real date', { field: '/occurredAt' });
    }
    return { ...(raw as KnownEvent), occurredAt: leap };
  }
  return raw as KnownEvent;
}
