import nodemailer from 'nodemailer';
import type { EffectiveTenant } from '../config';

/** A composed message, ready for one SMTP session. */
export interface OutgoingMail {
  from: string;
  replyTo?: string;
  /** The To header: every recipient of the event. */
  to: { name: string; address: string }[];
  /** The SMTP envelope sender (the address in `from`). */
  envelopeFrom: string;
  /** The SMTP envelope recipients: those still pending. */
  envelopeTo: string[];
  subject: string;
  text: string;
  html: string;
  messageId: string;
  date: Date;
  headers: Record<string, string>;
  attachments: { filename: string; contentType: string; path: string }[];
}

export interface SendResult {
  accepted: string[];
  /** Recipients the server refused, each with nodemailer's error (responseCode, response). */
  rejected: { address: string; error: unknown }[];
  response: string;
}

type Smtp = EffectiveTenant['smtp'];

/** nodemailer options for one message to one tenant's server: no pool, TLS 1.2 or later. */
export function transportOptions(smtp: Smtp) {
  return {
    host: smtp.host,
    port: smtp.port,
    secure: smtp.security === 'tls',
    requireTLS: smtp.security === 'starttls',
    ignoreTLS: smtp.security === 'none',
    ...(smtp.auth && { auth: { user: smtp.auth.user, pass: smtp.auth.pass } }),
    tls: {
      minVersion: 'TLSv1.2' as const,
      rejectUnauthorized: smtp.tls?.rejectUnauthorized ?? true,
      ...(smtp.tls?.ca !== undefined && { ca: smtp.tls.ca }),
      ...(smtp.tls?.servername !== undefined && { servername: smtp.tls.servername }),
    },
    connectionTimeout: smtp.connectionTimeoutMs ?? 10_000,
    greetingTimeout: smtp.greetingTimeoutMs ?? 10_000,
    socketTimeout: smtp.socketTimeoutMs ?? 30_000,
    disableUrlAccess: true,
    logger: false,
    debug: false,
  };
}

/**
 * Sends one message in its own SMTP session: a new transport, a new TCP connection and a fresh
 * TLS handshake (STARTTLS or implicit) every time; nothing is pooled, no TLS session or ticket is
 * offered for resumption. `signal` aborts the session (the overall deadline, or shutdown).
 */
export async function sendOnce(smtp: Smtp, mail: OutgoingMail, signal: AbortSignal): Promise<SendResult> {
  const transporter = nodemailer.createTransport(transportOptions(smtp));
  try {
    const info = await transporter.sendMail({
      from: mail.from,
      ...(mail.replyTo !== undefined && { replyTo: mail.replyTo }),
      to: mail.to,
      envelope: { from: mail.envelopeFrom, to: mail.envelopeTo },
      subject: mail.subject,
      text: mail.text,
      html: mail.html,
      messageId: mail.messageId,
      date: mail.date,
      headers: mail.headers,
      attachments: mail.attachments,
      signal,
    });
    const rejectedErrors = ((info as { rejectedErrors?: { recipient?: string }[] }).rejectedErrors ?? []) as { recipient?: string }[];
    return {
      accepted: (info.accepted as (string | { address: string })[]).map(addr),
      rejected: (info.rejected as (string | { address: string })[]).map(addr).map((address) => ({
        address,
        error: rejectedErrors.find((e) => e.recipient === address) ?? { responseCode: 550, response: 'rejected' },
      })),
      response: String(info.response ?? ''),
    };
  } finally {
    transporter.close();
  }
}

function addr(a: string | { address: string }): string {
  return typeof a === 'string' ? a : a.address;
}

