import type { KindApi } from '../event-kind';
import { builtInSample, builtInSchema, builtInTemplates } from '../built-in';

/** `call.missed`: a call nobody answered (CONTRACT.md section 4). */
export const TYPE = 'call.missed';

interface MissedCallData {
  caller: { number: string; name?: string };
  ringSeconds?: number;
  queue?: string;
}

export function register(api: KindApi): void {
  api.defineEvent<MissedCallData>(TYPE, {
    schema: builtInSchema(TYPE),
    templates: builtInTemplates(),
    sample: builtInSample(TYPE) as never,
    context: ({ data: d }, t) => ({
      caller: t.caller(d.caller),
      call: {
        ...(d.ringSeconds !== undefined && { ringSeconds: d.ringSeconds, ringDuration: t.duration(d.ringSeconds) }),
        ...(d.queue !== undefined && { queue: d.queue }),
      },
    }),
  });
}
