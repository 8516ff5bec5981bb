/**
 * One node of the cluster benchmark (bench/cluster.ts forks it, compiled, without ts-node): its
 * own plugin instance on its own dataDir, driven over IPC. Every request carries an `id` that its
 * reply repeats; times are wall-clock milliseconds with sub-millisecond resolution
 * (`performance.timeOrigin + performance.now()`), comparable across the processes of one machine.
 *
 *   { cmd: 'start', config, dataDir, parked?, watch? } -> { pid }   activates the plugin
 *   { cmd: 'send', tenants, count, concurrency }       -> { seconds } count voicemails, tenants in turn, at most `concurrency` handler calls in flight
 *   { cmd: 'one', tenant }                             -> { eventId, at } one voicemail, `at` = its handler resolved
 *   { cmd: 'cpu' }                                     -> { cpuMs, delivered, notDelivered } this process's CPU time so far
 *   { cmd: 'stop' }                                    -> {}       deactivates; the process then exits on its own
 * Unasked: { event: 'delivered', tenant, eventId, at } for each email.delivered of a watched tenant,
 * { event: 'dispatch', … } for each of its beforeSend hooks (the plugin's own part of the latency ends there).
 */
import { EmailNotifyPlugin } from '../src/plugin';
import { BenchHost, voicemail } from './lib/host';
import { pool } from './lib/stats';

interface Request {
  id: number;
  cmd: 'start' | 'send' | 'one' | 'cpu' | 'stop';
  config?: unknown;
  dataDir?: string;
  parked?: boolean;
  watch?: string[];
  tenants?: string[];
  tenant?: string;
  count?: number;
  concurrency?: number;
}

const wall = () => performance.timeOrigin + performance.now();

/** A send that never completes until the plugin abandons it at shutdown (accepts alone, as bench/accepts.ts). */
const parked = (_smtp: unknown, _mail: unknown, signal: AbortSignal) =>
  new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));

let host: BenchHost | undefined;
let plugin: EmailNotifyPlugin | undefined;
let delivered = 0;
let notDelivered = 0;

async function handle(m: Request): Promise<Record<string, unknown>> {
  switch (m.cmd) {
    case 'start': {
      const watch = new Set(m.watch ?? []);
      host = new BenchHost(m.config, m.dataDir);
      host.onEmit = (type, payload, at) => {
        if (type === 'email.delivered') {
          delivered++;
          if (watch.has(payload.tenant)) process.send!({ event: 'delivered', tenant: payload.tenant, eventId: payload.eventId, at: performance.timeOrigin + at });
        } else if (type === 'email.deferred' || type === 'email.failed') notDelivered++;
      };
      plugin = await EmailNotifyPlugin.activate(host.context(), m.parked ? { send: parked } : {});
      plugin.addHook('beforeSend', ({ tenant, event }) => {
        if (watch.has(tenant)) process.send!({ event: 'dispatch', tenant, eventId: event.id, at: wall() });
      });
      return { pid: process.pid };
    }
    case 'send': {
      const events = Array.from({ length: m.count! }, (_, i) => voicemail(m.tenants![i % m.tenants!.length]!));
      const t0 = wall();
      await pool(events, m.concurrency!, (e) => host!.send(e));
      return { seconds: (wall() - t0) / 1000 };
    }
    case 'one': {
      const e = voicemail(m.tenant!);
      await host!.send(e);
      return { eventId: e.id, at: wall() };
    }
    case 'cpu': {
      const c = process.cpuUsage();
      return { cpuMs: (c.user + c.system) / 1000, delivered, notDelivered };
    }
    case 'stop':
      stopping = true;
      await plugin?.deactivate();
      return {};
  }
}

let stopping = false;
process.on('message', (m: Request) => {
  handle(m).then(
    (r) => process.connected && process.send!({ id: m.id, ...r }, () => m.cmd === 'stop' && process.disconnect()),
    (e: Error) => process.connected && process.send!({ id: m.id, error: `${(e as { code?: string }).code ?? ''} ${e.stack}` }),
  );
});
// The parent gone (killed): nothing left to serve.
process.on('disconnect', () => {
  if (!stopping) void plugin?.deactivate().finally(() => process.exit(0));
});
