import type { KindApi } from '../event-kind';
import { builtInSample, builtInSchema, builtInTemplates } from '../built-in';

/** `fax.received`: a received fax, with its document attached (CONTRACT.md section 4). */
export const TYPE = 'fax.received';

interface FaxData {
  caller: { number: string; name?: string; stationId?: string };
  pages: number;
  status: 'received' | 'partial' | 'failed';
}

export function register(api: KindApi): void {
  api.defineEvent<FaxData>(TYPE, {
    schema: builtInSchema(TYPE),
    templates: builtInTemplates(),
    attachments: [{ field: 'document', role: 'document', name: 'fax', url: 'faxUrl' }],
    sample: builtInSample(TYPE) as never,
    context: ({ data: d }, t) => ({
      caller: t.caller(d.caller),
      fax: { pages: d.pages, status: d.status, received: d.status === 'received', failed: d.status === 'failed', partial: d.status === 'partial' },
    }),
  });
}
