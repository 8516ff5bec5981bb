/**
 * A cluster node that claims and then dies: opens a PgSpool, claims a tenant's due mail, prints
 * `CLAIMED <seq,seq,…>` and keeps its leases alive (heartbeat) until the parent SIGKILLs it.
 * Run with `node -r ts-node/register/transpile-only test/spool/pg-claim.child.ts` and PG_CLAIM (JSON).
 */
import { PgSpool } from '../../src/spool/pg';

interface ChildOptions {
  connectionString: string;
  schema: string;
  leaseMs: number;
  owner: string;
  tenant: string;
  limit: number;
  perTenant: number;
  /** The node's dataDir (the parent removes it). */
  dataDir: string;
}

async function main(): Promise<void> {
  const o = JSON.parse(process.env.PG_CLAIM ?? '{}') as ChildOptions;
  const spool = await PgSpool.open({ connectionString: o.connectionString, schema: o.schema, poolSize: 2, leaseMs: o.leaseMs, dataDir: o.dataDir, owner: o.owner });
  const c = await spool.claim({ tenant: o.tenant, now: Date.now(), limit: o.limit, exclude: new Set(), perTenant: o.perTenant });
  process.stdout.write(`CLAIMED ${c.seqs.join(',')}\n`);
  // Stays up, heartbeating, until killed.
  setInterval(() => undefined, 60_000);
}

main().catch((e: unknown) => {
  process.stdout.write(`ERROR ${(e as { code?: string }).code ?? ''} ${(e as Error).message}\n`);
  process.exit(1);
});
