import type { HostContext } from './host-api';
import { EmailNotifyPlugin } from './plugin';

/** The host's entry point (CONTRACT.md section 2): validates the config, opens the spool, subscribes. */
export function activate(ctx: HostContext): Promise<EmailNotifyPlugin> {
  return EmailNotifyPlugin.activate(ctx);
}

export { EmailNotifyPlugin, type PluginStatus } from './plugin';
export { PluginError, ERROR_CATALOG, type ErrorCode, type Problem } from './errors';
export type { Disposable, HostContext, HostLog, PbxEvent, PluginInstance } from './host-api';
export type { HookName, HookStates, Hook, HookMessage } from './hooks';
export type { ExtensionApi, ExtensionModule, ExtensionStatus } from './extensions';
export type { AttachmentField, ContextTools, EventKindSpec, KindEvent, KindSample, KindTemplates, PartSources, Recipient as KindRecipient } from './kinds';
export type { SafeHtml } from './templates/safe-string';
export type { MetricsText } from './metrics';
export * from './ops/types';
export { OfflineQueue } from './ops';
export type * from './generated/schema-types';
export type * from './generated/event-shapes';
export type * from './kinds/voicemail-received/schema-types';
export type * from './kinds/fax-received/schema-types';
export type * from './kinds/call-missed/schema-types';
