export { EmailNotifyPlugin, type ActivateOptions, type PluginStatus } from './plugin';
export { accept, messageIdFor, type IntakeResult } from './intake';
