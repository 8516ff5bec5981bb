import type { SchemaRegistry } from '../config';
import type { KindApi } from './event-kind';
import { KindRegistry, SHAPES } from './registry';
import * as callMissed from './call-missed';
import * as faxReceived from './fax-received';
import * as voicemailReceived from './voicemail-received';

/** The kinds the plugin ships with: each one folder, each registered through `defineEvent` like an extension's. */
export const BUILT_IN_KINDS: readonly { readonly TYPE: string; register(api: KindApi): void }[] = [voicemailReceived, faxReceived, callMissed];

/** The built-in event types, in the order they are registered. */
export const BUILT_IN_TYPES: readonly string[] = BUILT_IN_KINDS.map((k) => k.TYPE);

/** A KindApi that defines into `kinds` on behalf of `origin`. */
export function kindApi(kinds: KindRegistry, origin: string, onDefine?: (type: string) => void): KindApi {
  return {
    defineEvent: (type, spec) => {
      kinds.define(type, spec as never, origin);
      onDefine?.(type);
    },
    shapes: SHAPES,
  };
}

/** A registry holding the built-in kinds. */
export function builtInKinds(schemas: SchemaRegistry): KindRegistry {
  const kinds = new KindRegistry(schemas);
  const api = kindApi(kinds, 'built-in');
  for (const k of BUILT_IN_KINDS) k.register(api);
  return kinds;
}
