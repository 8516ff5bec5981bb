import { PluginError } from '../errors';
import type { PluginInstance } from '../host-api';
import { BUILT_IN_TYPES } from '../kinds';
import type { MessageState, MessagesQuery, OpsApi } from '../ops';
import type { HttpAnswer, HttpRoute } from './http-intake';

/** The plugin as the operations routes see it: any of the operations may be missing (another plugin, an older version). */
export type OpsPlugin = PluginInstance & Partial<OpsApi>;

/** The event type a test-send uses when the request names none: the first built-in kind (a voicemail). */
export const DEFAULT_TEST_EVENT = BUILT_IN_TYPES[0]!;

const ok = (body: unknown): HttpAnswer => ({ status: 200, body: JSON.stringify(body) + '\n' });

function invalid(field: string, message: string): PluginError {
  return new PluginError('QUERY_INVALID', `${field}: ${message}`, { field });
}

/** The body's fields, every one of them among `allowed` (else QUERY_INVALID naming the first other one). */
function fields(body: Record<string, unknown>, allowed: readonly string[]): Record<string, unknown> {
  for (const k of Object.keys(body)) {
    if (!allowed.includes(k)) throw invalid(`/${k.slice(0, 64)}`, `this endpoint takes ${allowed.length ? allowed.map((a) => `"${a}"`).join(', ') : 'an empty object {}'}, not "${k.slice(0, 64)}"`);
  }
  return body;
}

function text(body: Record<string, unknown>, key: string, required: boolean): string | undefined {
  const v = body[key];
  if (v === undefined && !required) return undefined;
  if (typeof v !== 'string' || v === '') throw invalid(`/${key}`, `expected a non-empty string, got ${v === undefined ? 'nothing' : JSON.stringify(v).slice(0, 80)}`);
  return v;
}

function limit(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d{1,7}$/.test(v)) throw invalid('limit', `expected a whole number, got ${JSON.stringify(v.slice(0, 40))}`);
  return Number(v);
}

/**
 * The reference host's operations API, each route one OpsApi method with the same name and
 * arguments (README, "Operations"):
 *
 * | route | method |
 * | --- | --- |
 * | `GET /messages?tenant=&state=&limit=&before=` → `{messages}` | messages() |
 * | `GET /messages/<tenant>/<eventId>` | message() (404 MESSAGE_NOT_FOUND) |
 * | `POST /messages/<tenant>/<eventId>/retry` `{}` | retry() |
 * | `DELETE /messages/<tenant>/<eventId>` | discard() |
 * | `POST /tenants/<tenant>/flush` `{}` | flush() |
 * | `POST /tenants/<tenant>/retry-failed` `{"since": ISO}` | retryFailed() |
 * | `POST /tenants/<tenant>/test` `{"to": ADDR, "eventType"?: TYPE}` | testSend() |
 * | `GET /refusals?tenant=&limit=` → `{refusals}` | refusals() |
 *
 * Path parameters are percent-decoded (an event id may hold `/` as `%2F`); the plugin checks
 * every argument (QUERY_INVALID naming the field). A plugin without the method answers 404.
 */
export function opsRoutes(plugin: () => OpsPlugin): Record<string, HttpRoute> {
  const call = <K extends keyof OpsApi>(name: K): NonNullable<OpsPlugin[K]> => {
    const p = plugin();
    const fn = p[name];
    if (typeof fn !== 'function') throw new PluginError('HTTP_NOT_FOUND', `this plugin offers no ${name}()`);
    return (fn as (...args: unknown[]) => unknown).bind(p) as NonNullable<OpsPlugin[K]>;
  };
  return {
    '/messages': {
      query: ['tenant', 'state', 'limit', 'before'],
      get: async (_req, { query }) => {
        const q: MessagesQuery = {
          ...(query.tenant !== undefined && { tenant: query.tenant }),
          ...(query.state !== undefined && { state: query.state as MessageState }),
          ...(query.limit !== undefined && { limit: limit(query.limit)! }),
          ...(query.before !== undefined && { before: query.before }),
        };
        return ok({ messages: await call('messages')(q) });
      },
    },
    '/messages/:tenant/:eventId': {
      get: async (_req, { params }) => {
        const m = await call('message')(params.eventId!, params.tenant!);
        if (!m) throw new PluginError('MESSAGE_NOT_FOUND', `no message ${JSON.stringify(params.eventId)} of tenant ${JSON.stringify(params.tenant)} in the spool (never accepted, or purged after its retention)`, { field: 'eventId' });
        return ok(m);
      },
      delete: async (_req, { params }) => ok(await call('discard')(params.eventId!, params.tenant!)),
    },
    '/messages/:tenant/:eventId/retry': {
      post: async (_req, body, { params }) => {
        fields(body, []);
        return ok(await call('retry')(params.eventId!, params.tenant!));
      },
    },
    '/tenants/:tenant/flush': {
      post: async (_req, body, { params }) => {
        fields(body, []);
        return ok(await call('flush')(params.tenant!));
      },
    },
    '/tenants/:tenant/retry-failed': {
      post: async (_req, body, { params }) => {
        const since = text(fields(body, ['since']), 'since', true)!;
        return ok(await call('retryFailed')({ tenant: params.tenant!, since }));
      },
    },
    '/tenants/:tenant/test': {
      post: async (_req, body, { params }) => {
        const b = fields(body, ['to', 'eventType']);
        const q = { tenant: params.tenant!, to: text(b, 'to', true)!, eventType: text(b, 'eventType', false) ?? DEFAULT_TEST_EVENT };
        return ok(await call('testSend')(q));
      },
    },
    '/refusals': {
      query: ['tenant', 'limit'],
      get: async (_req, { query }) =>
        ok({ refusals: await call('refusals')({ ...(query.tenant !== undefined && { tenant: query.tenant }), ...(query.limit !== undefined && { limit: limit(query.limit)! }) }) }),
    },
  };
}
