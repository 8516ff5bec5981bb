export type { Disposable, HostContext, HostLog, PbxEvent, PluginInstance } from './types';
