export type { AttachmentField, ContextTools, EventKind, EventKindSpec, KindApi, KindEvent, KindSample, KindTemplates, PartSources, Recipient, ResolvedAttachment } from './event-kind';
export { KindRegistry, kindSchemaPath, SHAPES } from './registry';
export { BUILT_IN_KINDS, BUILT_IN_TYPES, builtInKinds, kindApi } from './built-ins';
