import * as crypto from 'node:crypto';

let n = 0;
/** A unique event id. */
export const eid = (p = 'ev') => `${p}-${process.pid}-${++n}-${crypto.randomBytes(3).toString('hex')}`;

export function voicemail(tenant: string, over: Record<string, any> = {}, data: Record<string, any> = {}) {
  return {
    id: eid('vm'),
    type: 'voicemail.received',
    tenant,
    occurredAt: '2026-11-28T12:00:00Z',
    data: { recipient: { extension: '201', name: 'Alice Example', email: [`alice@${tenant}`] }, caller: { number: '+15550100', name: 'Bob Caller' }, durationSeconds: 65, ...data },
    ...over,
  };
}

export function fax(tenant: string, over: Record<string, any> = {}, data: Record<string, any> = {}) {
  return {
    id: eid('fax'),
    type: 'fax.received',
    tenant,
    occurredAt: '2026-11-28T12:05:00Z',
    data: { recipient: { extension: '202', email: [`fax@${tenant}`] }, caller: { number: '+15550111', stationId: 'ACME FAX' }, pages: 3, status: 'received', ...data },
    ...over,
  };
}

export function missed(tenant: string, over: Record<string, any> = {}, data: Record<string, any> = {}) {
  return {
    id: eid('mc'),
    type: 'call.missed',
    tenant,
    occurredAt: '2026-11-28T12:10:00Z',
    data: { recipient: { extension: '203', email: [`bob@${tenant}`] }, caller: { number: '+15550122' }, ringSeconds: 20, ...data },
    ...over,
  };
}

/** Plugin config for tenants each pointing at a test server, trusting the test CA. */
export function tenantConfig(ca: string, servers: Record<string, { port: number; security?: string; auth?: object }>, extra: Record<string, any> = {}) {
  const tenants: Record<string, any> = {};
  for (const [id, s] of Object.entries(servers)) {
    tenants[id] = {
      from: `PBX <pbx@${id}>`,
      smtp: { host: '127.0.0.1', port: s.port, security: s.security ?? 'starttls', tls: { ca, servername: 'localhost' }, ...(s.auth && { auth: s.auth }), connectionTimeoutMs: 2000, greetingTimeoutMs: 2000, socketTimeoutMs: 3000 },
    };
  }
  return { delivery: { retry: { initialDelayMs: 200, maxDelayMs: 1000, maxAgeMs: 60_000 }, messageTimeoutMs: 8000, shutdownTimeoutMs: 500 }, ...extra, tenants: { ...tenants, ...(extra.tenants ?? {}) } };
}
