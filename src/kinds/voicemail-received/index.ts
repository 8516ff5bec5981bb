import type { KindApi } from '../event-kind';
import { builtInSample, builtInSchema, builtInTemplates } from '../built-in';
import { folderName, messageLabel } from './message-label';

/** `voicemail.received`: a new voicemail message, with its recording attached (CONTRACT.md section 4). */
export const TYPE = 'voicemail.received';

interface VoicemailData {
  caller: { number: string; name?: string };
  durationSeconds: number;
  messageNumber?: number;
  folder?: string;
  transcript?: string;
}

export function register(api: KindApi): void {
  api.defineEvent<VoicemailData>(TYPE, {
    schema: builtInSchema(TYPE),
    templates: builtInTemplates(),
    attachments: [{ field: 'recording', role: 'recording', name: 'voicemail', url: 'recordingUrl' }],
    sample: builtInSample(TYPE) as never,
    context: ({ data: d }, t) => ({
      caller: t.caller(d.caller),
      // No top-level `duration`: that name is the duration helper's (helpers and variables never share a name).
      voicemail: {
        durationSeconds: d.durationSeconds,
        duration: t.duration(d.durationSeconds),
        ...(d.messageNumber !== undefined && { messageNumber: d.messageNumber }),
        ...(d.folder !== undefined && { folder: d.folder, folderName: folderName(d.folder, t.locale) }),
        ...((d.messageNumber !== undefined || d.folder) && { messageLabel: messageLabel(d.messageNumber, d.folder, t.locale) }),
        ...(d.transcript !== undefined && { transcript: d.transcript }),
      },
    }),
  });
}
