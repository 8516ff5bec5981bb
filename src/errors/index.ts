export { ERROR_CATALOG, type ErrorCode } from './catalog';
export { PluginError, isPluginError, type Problem, type PluginErrorOptions } from './plugin-error';
