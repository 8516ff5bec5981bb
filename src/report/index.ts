export { Reporter, type ReportPayloads, type ReportType } from './reporter';
