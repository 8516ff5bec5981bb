import { ERROR_CATALOG, type ErrorCode } from '../errors';

/** The label value of a reason that names no catalogued code. */
export const OTHER_CODE = 'OTHER';

const CODE = /\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b/g;

/**
 * The catalogued error code a report's reason names (`SMTP_PERMANENT (RCPT TO): 550 …`, or
 * `bob@x: SMTP_PERMANENT: …` for one recipient), else `OTHER`: the label set is the error
 * catalog, closed, whatever a server writes in its reply.
 */
export function reasonCode(reason: unknown): ErrorCode | typeof OTHER_CODE {
  if (typeof reason !== 'string') return OTHER_CODE;
  for (const m of reason.slice(0, 400).matchAll(CODE)) {
    if (Object.prototype.hasOwnProperty.call(ERROR_CATALOG, m[0])) return m[0] as ErrorCode;
  }
  return OTHER_CODE;
}
