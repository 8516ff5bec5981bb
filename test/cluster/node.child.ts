/**
 * One cluster node in its own process (issue 13's cluster tests): activates the plugin with the
 * config and dataDir of argv[2] (JSON), then speaks JSON lines.
 * stdout: `{"ready":true,"pid":…}` once active; `{"emit":type,"eventId","tenant","messageId","at"}` for every report.
 * stdin: `{"id":n,"send":event}` answered `{"id":n,"result":"queued"|"duplicate"}` or `{"id":n,"error":code}`;
 * `{"id":n,"op":"messages"|"retry"|"status"|"lookup",args:[…]}` answered `{"id":n,"result":…}` likewise.
 * nodes.ts runs it transpiled once (or run `node -r ts-node/register/transpile-only test/cluster/node.child.ts '<json>'`); the test SIGKILLs it.
 */
import * as readline from 'node:readline';
import { activate } from '../../src';
import { FakeHost } from '../helpers/fake-host';

async function main(): Promise<void> {
  const { config, dataDir } = JSON.parse(process.argv[2]!) as { config: unknown; dataDir: string };
  const out = (v: unknown) => process.stdout.write(`${JSON.stringify(v)}\n`);
  const host = new FakeHost(config, dataDir);
  const ctx = host.context();
  const plugin = await activate({
    ...ctx,
    emit: (type, p) => out({ emit: type, eventId: p.eventId, tenant: p.tenant, messageId: p.messageId, at: Date.now() }),
  });
  const ops: Record<string, (...a: any[]) => Promise<unknown>> = {
    messages: (q) => plugin.messages(q),
    retry: (id, tenant) => plugin.retry(id, tenant),
    status: () => plugin.status(),
    lookup: (id, tenant) => plugin.lookup(id, tenant),
  };
  const rl = readline.createInterface({ input: process.stdin });
  // The test process is gone (however it ended): so is this node, at once, as by SIGKILL.
  rl.on('close', () => process.exit(0));
  rl.on('line', (line) => {
    const m = JSON.parse(line) as { id: number; send?: Record<string, unknown>; op?: string; args?: unknown[] };
    const run = m.send
      ? host.send(m.send).then((r) => ((r as { status?: string } | undefined)?.status === 'duplicate' ? 'duplicate' : 'queued'))
      : ops[m.op!]!(...(m.args ?? []));
    run.then(
      (result) => out({ id: m.id, result }),
      (e: { code?: string; message?: string }) => out({ id: m.id, error: e?.code ?? 'NO_CODE', message: e?.message }),
    );
  });
  out({ ready: true, pid: process.pid });
}

main().catch((e) => {
  process.stderr.write(`node.child failed: ${(e as Error).stack}\n`);
  process.exit(1);
});
