import type { CallMissedEvent, FaxReceivedEvent, VoicemailReceivedEvent } from '../generated/schema-types';

/** The event types this plugin renders mail for; each has schemas/events/<type>.schema.json. */
export const EVENT_TYPES = ['voicemail.received', 'fax.received', 'call.missed'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export type KnownEvent = VoicemailReceivedEvent | FaxReceivedEvent | CallMissedEvent;

export function isEventType(t: unknown): t is EventType {
  return (EVENT_TYPES as readonly unknown[]).includes(t);
}
