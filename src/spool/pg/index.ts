export { PgSpool, type ImportedMessage, type PgSpoolOptions } from './pg-spool';
export { PG_SCHEMA_VERSION } from './pg-schema';
export { CHUNK_BYTES } from './pg-files';
