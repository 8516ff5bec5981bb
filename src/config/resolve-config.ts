import type { PluginConfig, PostgresSpoolConfig, SpoolConfig } from '../generated/schema-types';
import { PluginError, type Problem } from '../errors';
import { dkimKeyAlgorithm } from '../security/dkim-key';
import { isPostgresUrl } from '../security/redact';
import { deepFreeze } from '../util/deep-freeze';
import type { SchemaRegistry } from './schema-registry';
import { toProblems } from './schema-registry';
import { mergeTenant, usabilityProblems } from './tenant-settings';

type DeepRequired<T> = T extends readonly unknown[] ? T : T extends object ? { readonly [K in keyof T]-?: DeepRequired<T[K]> } : T;

/**
 * The validated configuration, with every schema default filled in, deep-frozen.
 * `spool.postgres.connectionString` has no default: it is set whenever `spool.store` is postgres.
 */
export type ResolvedConfig = DeepRequired<Pick<PluginConfig, 'attachmentRoots' | 'delivery' | 'extensions'>> & {
  readonly spool: DeepRequired<Omit<SpoolConfig, 'postgres'>> & {
    readonly postgres: DeepRequired<Omit<PostgresSpoolConfig, 'connectionString'>> & { readonly connectionString?: string };
  };
} & Readonly<Pick<Required<PluginConfig>, 'defaults' | 'tenants'>>;

/**
 * Validates a raw configuration once: schema (with defaults applied to a copy), then the rule
 * that every listed tenant is usable after merging defaults. Throws CONFIG_INVALID listing
 * every problem with its JSON path; returns the frozen result.
 */
export function resolveConfig(raw: unknown, schemas: SchemaRegistry): ResolvedConfig {
  const copy: unknown = raw === undefined ? {} : structuredClone(raw);
  const validate = schemas.validator('config.schema.json');
  const problems: Problem[] = validate(copy) ? [] : toProblems(validate.errors);
  // Tenant usability is checked even when the schema found problems, so that one answer lists
  // every problem; a path the schema already named is not named twice.
  const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
  if (isObj(copy) && isObj(copy.tenants) && (copy.defaults === undefined || isObj(copy.defaults))) {
    const named = problems.map((p) => p.path);
    for (const [id, t] of Object.entries(copy.tenants)) {
      if (!isObj(t)) continue;
      const merged = { ...(mergeTenant((copy.defaults ?? {}) as never, t as never) as Record<string, unknown>) };
      // A wrongly typed key was already named by the schema: judge the rest without it.
      const skip = ['from', 'smtp', 'dkim'].filter((k) => merged[k] !== undefined && (k === 'from' ? typeof merged[k] !== 'string' : !isObj(merged[k])));
      for (const k of skip) delete merged[k];
      let found: Problem[];
      try {
        found = usabilityProblems(merged as never);
      } catch {
        continue; // shapes too broken to judge; the schema's problems stand
      }
      for (const p of found) {
        const path = `/tenants/${id}${p.path}`;
        if (skip.some((k) => p.path.startsWith(`/${k}`))) continue;
        if (!named.some((n) => n === path || path.startsWith(`${n}/`))) problems.push({ ...p, path });
      }
    }
  }
  // A defaults key that cannot sign is refused even when no listed tenant uses it: unlisted tenants do.
  if (isObj(copy) && isObj(copy.defaults) && isObj(copy.defaults.dkim) && typeof copy.defaults.dkim.privateKey === 'string') {
    const key = dkimKeyAlgorithm(copy.defaults.dkim.privateKey);
    const path = '/defaults/dkim/privateKey';
    if ('problem' in key && !problems.some((p) => p.path === path)) problems.push({ path, message: key.problem });
  }
  problems.push(...postgresProblems(copy, problems));
  if (problems.length === 0) {
    const cfg = copy as PluginConfig;
    const { retry } = cfg.delivery!;
    if (retry!.initialDelayMs! > retry!.maxDelayMs!) {
      problems.push({ path: '/delivery/retry/initialDelayMs', message: 'must not exceed maxDelayMs' });
    }
  }
  if (problems.length > 0) {
    const list = problems.map((p) => `${p.path} ${p.message}`).join('; ');
    throw new PluginError('CONFIG_INVALID', `invalid plugin configuration: ${list}`, { problems });
  }
  const cfg = copy as PluginConfig;
  cfg.defaults ??= {};
  return deepFreeze(cfg) as ResolvedConfig;
}

/**
 * The PostgreSQL store needs a connection string, and one that is a postgres URL. Messages never
 * quote the string: it holds a password.
 */
function postgresProblems(copy: unknown, named: readonly Problem[]): Problem[] {
  const spool = (copy as PluginConfig | null)?.spool;
  if (spool === null || typeof spool !== 'object' || Array.isArray(spool)) return [];
  const path = '/spool/postgres/connectionString';
  if (named.some((p) => p.path === path || p.path === '/spool/postgres' || p.path === '/spool')) return [];
  const pg = spool.postgres;
  const url = pg !== null && typeof pg === 'object' ? pg.connectionString : undefined;
  if (url === undefined) return spool.store === 'postgres' ? [{ path, message: 'is required with spool.store "postgres"' }] : [];
  if (!isPostgresUrl(url)) return [{ path, message: 'must be a postgres:// or postgresql:// URL' }];
  return [];
}
