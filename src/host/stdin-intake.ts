import * as readline from 'node:readline';
import { isPluginError } from '../errors';
import type { PbxEvent } from '../host-api';
import type { DispatchAnswer } from './event-bus';

/**
 * JSON lines on stdin, one event envelope per line. Each line gets one JSON line back on
 * stdout: `{"id":…,"status":"queued"}`, `{"id":…,"status":"duplicate","state":…}` for a known id, or
 * `{"id":…,"code":…,"field":…,"message":…}`.
 */
export function readEventsFromStdin(input: NodeJS.ReadableStream, output: NodeJS.WritableStream, dispatch: (e: PbxEvent) => Promise<false | DispatchAnswer>): { close(): void } {
  const rl = readline.createInterface({ input, crlfDelay: Infinity });
  rl.on('line', (line) => {
    if (!line.trim()) return;
    let event: PbxEvent;
    try {
      event = JSON.parse(line);
    } catch (e) {
      output.write(JSON.stringify({ code: 'EVENT_INVALID', field: '/', message: `not JSON: ${(e as Error).message}` }) + '\n');
      return;
    }
    if (typeof event !== 'object' || event === null || Array.isArray(event)) {
      output.write(JSON.stringify({ code: 'EVENT_INVALID', field: '/', message: `expected a JSON object, got ${event === null ? 'null' : Array.isArray(event) ? 'an array' : typeof event}` }) + '\n');
      return;
    }
    dispatch(event).then(
      (taken) =>
        output.write(JSON.stringify(taken ? { id: event.id, ...taken } : { id: event.id, code: 'EVENT_TYPE_UNKNOWN', field: '/type', message: 'no plugin subscribed' }) + '\n'),
      (e) => output.write(JSON.stringify({ id: event?.id, ...(isPluginError(e) ? e.toJSON() : { message: String(e) }) }) + '\n'),
    );
  });
  return { close: () => rl.close() };
}
