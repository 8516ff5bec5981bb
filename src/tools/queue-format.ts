import type { MessageDetail, MessageSummary, OpsStatus, RefusalRecord, SpoolMigrationSummary, TestSendResult } from '../ops';

/** An ISO time without its milliseconds: `2026-12-03T08:40:01Z`. */
const time = (iso: string | undefined) => (iso ? iso.replace(/\.\d{3}Z$/, 'Z') : '-');

/** One line, control characters out, at most `max` characters (with … when cut). */
function cell(v: unknown, max = 60): string {
  const s = v === undefined || v === null || v === '' ? '-' : String(v).replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ');
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/** Left-aligned columns two spaces apart, a header row first. */
export function table(header: string[], rows: unknown[][], max = 60): string {
  const cells = [header, ...rows.map((r) => r.map((v) => cell(v, max)))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  return cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n');
}

/** A coded reason as one text: its message, which names the code in the plugin's reasons, else `CODE: message`. */
const reason = (r: { code: string; message: string } | undefined) => (r ? (r.message.includes(r.code) ? r.message : `${r.code}: ${r.message}`) : undefined);

/** An SMTP reply: its text when that starts with the code (as servers' texts do), else `code text`. */
const reply = (code: number | undefined, text: string | undefined) => (text !== undefined && code !== undefined && text.startsWith(String(code)) ? text : [code, text].filter((x) => x !== undefined).join(' '));

export function formatMessages(list: MessageSummary[]): string {
  if (list.length === 0) return 'no messages';
  return table(
    ['TENANT', 'EVENT ID', 'TYPE', 'STATE', 'ATTEMPTS', 'ACCEPTED', 'NEXT ATTEMPT', 'LAST ERROR'],
    list.map((m) => [m.tenant, m.eventId, m.eventType, m.state, m.attempts, time(m.acceptedAt), time(m.nextAttemptAt), reason(m.lastError)]),
  );
}

export function formatMessage(m: MessageDetail): string {
  const head = [
    ['tenant', m.tenant],
    ['event id', m.eventId],
    ['type', m.eventType],
    ['state', m.state],
    ['recipients', m.recipients.join(', ')],
    ['attempts', m.attempts],
    ['accepted', time(m.acceptedAt)],
    ['updated', time(m.updatedAt)],
    ...(m.nextAttemptAt ? [['next attempt', time(m.nextAttemptAt)]] : []),
    ...(m.lastError ? [['last error', reason(m.lastError)]] : []),
  ].map(([k, v]) => `${String(k).padEnd(13)}${cell(v, 200)}`);
  const attempts = m.attemptsLog.length
    ? table(
        ['#', 'AT', 'SERVER', 'TLS', 'REPLY', 'OUTCOME', 'CODE'],
        m.attemptsLog.map((a) => [a.attempt, time(a.at), a.host, a.tlsVersion, reply(a.replyCode, a.replyText), a.outcome, a.code]),
        120,
      )
    : 'no attempts yet';
  const recipients = m.attemptsLog.flatMap((a) => a.recipients.map((r) => [a.attempt, r.address, r.status, reply(r.replyCode, r.replyText)]));
  const log = m.log.map((e) => [time(e.at), e.kind, e.code, e.field, e.detail]);
  return [
    ...head,
    '',
    'attempts:',
    attempts,
    ...(recipients.length ? ['', 'recipients per attempt:', table(['#', 'ADDRESS', 'STATUS', 'REPLY'], recipients, 120)] : []),
    '',
    'delivery log:',
    log.length ? table(['AT', 'KIND', 'CODE', 'FIELD', 'DETAIL'], log, 120) : 'empty',
  ].join('\n');
}

export function formatRefusals(list: RefusalRecord[]): string {
  if (list.length === 0) return 'no refusals';
  return table(
    ['AT', 'TENANT', 'EVENT ID', 'TYPE', 'CODE', 'FIELD', 'MESSAGE'],
    list.map((r) => [time(r.at), r.tenant, r.eventId, r.eventType, r.code, r.field, r.message]),
  );
}

export function formatStatus(s: OpsStatus): string {
  const states = Object.keys(s.depth) as (keyof OpsStatus['depth'])[];
  return table(
    ['TENANT', 'HELD', ...states.map((x) => x.toUpperCase()), 'OLDEST QUEUED', 'LAST SUCCESS', 'LAST FAILURE'],
    s.tenants.map((t) => [
      t.tenant,
      t.held ? `yes${t.holdReason ? ` (${t.holdReason.code}, next probe ${time(t.nextProbeAt)})` : ''}` : 'no',
      ...states.map((x) => t.depth[x] ?? 0),
      t.oldestQueuedAgeMs === undefined ? '-' : `${Math.round(t.oldestQueuedAgeMs / 1000)} s`,
      time(t.lastSuccessAt),
      t.lastFailure ? `${time(t.lastFailure.at)} ${t.lastFailure.code}` : '-',
    ]),
  );
}

export function formatSummary(verb: string, m: MessageSummary): string {
  return `${verb} ${m.tenant} ${m.eventId}: now ${m.state}${m.nextAttemptAt ? `, next attempt ${time(m.nextAttemptAt)}` : ''}`;
}

export function formatTestSend(r: TestSendResult): string {
  const t = r.transcript;
  return [
    `test-send ${r.eventType} for ${r.tenant} to ${r.to}: ${r.outcome}${r.code ? ` (${r.code})` : ''}`,
    `server       ${cell(t.host)}`,
    `tls          ${cell(t.tlsVersion)}`,
    `reply        ${cell(reply(t.replyCode, t.replyText), 200)}`,
    `duration     ${t.durationMs} ms`,
  ].join('\n');
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** migrate-spool's summary line: messages copied per state, skipped, attachments and bytes, log lines, refusals and totals. */
export function formatMigration(s: SpoolMigrationSummary): string {
  const copied = Object.values(s.copied).reduce((a, b) => a + b, 0);
  const states = Object.entries(s.copied).map(([st, n]) => `${n} ${st}`).join(', ');
  const files = `${plural(s.attachments.files, 'attachment')} (${plural(s.attachments.bytes, 'byte')})${s.attachments.missing > 0 ? `, ${s.attachments.missing} missing at the source` : ''}`;
  const totals = s.totals === 'copied' ? `${plural(s.refusals, 'refusal')}, totals of ${plural(s.tenants, 'tenant')}` : 'refusals and totals already there';
  return `migrated ${s.from} to ${s.to} schema ${s.schema}: ${plural(copied, 'message')} copied (${states}), ${s.skipped} skipped as already there; ${files}; ${plural(s.logLines, 'log line')}; ${totals}; ${s.ms} ms`;
}
