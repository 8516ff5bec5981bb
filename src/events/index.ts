export { EVENT_TYPES, isEventType, type EventType, type KnownEvent } from './event-types';
export { validateEvent } from './validate-event';
export { neutraliseEvent, neutraliseLine, neutraliseText, UNTRUSTED_LIMITS } from './neutralise';
export { openConfined, type ConfinedFile } from './attachment-guard';
export { classifyContent, sniffContentType, type SniffResult } from './magic-bytes';
