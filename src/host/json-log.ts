import pino from 'pino';
import type { HostLog } from '../host-api';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface JsonLogOptions {
  /** Lines below this level are not written. */
  level: LogLevel;
  /** Where the lines go: a file descriptor (written synchronously, so nothing is lost at exit) or a stream. @default 2 (stderr) */
  destination?: number | NodeJS.WritableStream;
}

/** Keys every line has; a field of the same name is written as `_<name>` instead of a second key. */
const RESERVED = new Set(['level', 'time', 'msg']);

/**
 * The reference host's log: one JSON object per line, `{"level":"info","time":"<ISO 8601>","msg":…, …fields}`,
 * through pino (circular or BigInt fields never throw; Error values become `{name, message, code}`).
 * It is the `ctx.log` the plugin gets, and the host logs through it too, so stderr carries
 * nothing but these lines.
 * @example const log = jsonLog({ level: 'info' }); log.info('pbx-email-notify active', { tenants: 2 });
 */
export function jsonLog(o: JsonLogOptions): HostLog {
  const dest = o.destination ?? 2;
  const logger = pino(
    {
      level: o.level,
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    typeof dest === 'number' ? pino.destination({ fd: dest, sync: true }) : dest,
  );
  const at = (level: LogLevel) => (msg: string, fields?: Record<string, unknown>) => {
    if (fields === undefined) logger[level](msg);
    else logger[level](plain(fields), msg);
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

function plain(fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) {
    out[RESERVED.has(k) ? `_${k}` : k] = v instanceof Error ? { name: v.name, message: v.message, ...((v as { code?: unknown }).code !== undefined && { code: (v as { code?: unknown }).code }) } : v;
  }
  return out;
}
