export type { ExtensionApi, ExtensionModule, ExtensionStatus } from './api';
export { HelperRegistry } from './helper-registry';
export { loadExtensions, type LoadDeps, type LoadedExtensions } from './loader';
