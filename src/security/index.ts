export { Redactor } from './redact';
