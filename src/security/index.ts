export { Redactor, redactConnectionString, connectionStringSecrets } from './redact';
