export { DEFAULT_UNTRUSTED_LIMIT, neutraliseLine, neutraliseText, neutraliseUntrusted, UNTRUSTED_KEYWORD, UNTRUSTED_LIMITS, type UntrustedAnnotation } from './neutralise';
export { openConfined, type ConfinedFile } from './attachment-guard';
export { classifyContent, sniffContentType, type SniffResult } from './magic-bytes';
