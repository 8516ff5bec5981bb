export { PluginMetrics, type MetricsSources, type MetricsText, type PluginMetricsOptions } from './plugin-metrics';
export { DEFAULT_TENANT_LABELS, OTHER_TENANT, TenantLabels } from './tenant-labels';
export { OTHER_CODE, reasonCode } from './reason-code';
