export { SCHEMA_BASE, SchemaRegistry, toProblems } from './schema-registry';
export { resolveConfig, type ResolvedConfig } from './resolve-config';
export { mergeTenant, effectiveTenant, parseFrom, type EffectiveTenant } from './tenant-settings';
export { TenantDirectory } from './tenant-directory';
