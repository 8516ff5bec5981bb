export { Redactor, redactConnectionString, connectionStringSecrets, isPostgresUrl } from './redact';
