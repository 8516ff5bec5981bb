import * as fs from 'node:fs';

/** Timeouts and caps of the HTTP intake. */
export interface HttpLimits {
  /**
   * Open HTTP connections at most. When a new one would exceed it, the longest-idle connection
   * (one with no request in progress) is closed to make room; when every one is busy, the new
   * one is answered 503 `HTTP_OVERLOADED`. Derived from the open-files limit so that at least
   * half of the descriptors stay in reserve for the spool, attachments and SMTP sessions.
   * @default min(1024, RLIMIT_NOFILE / 2 - 64), at least 8
   */
  maxConnections: number;
  /** Time for the request line and headers. @default 10_000 ms */
  headersTimeoutMs: number;
  /** Time for the whole request, body included. @default 30_000 ms */
  requestTimeoutMs: number;
  /** How long an idle keep-alive connection stays open. @default 5_000 ms */
  keepAliveTimeoutMs: number;
  /** Largest accepted body. @default 1 MiB */
  maxBodyBytes: number;
}

export function defaultHttpLimits(): HttpLimits {
  return {
    maxConnections: connectionsForFileLimit(openFilesLimit()),
    headersTimeoutMs: 10_000,
    requestTimeoutMs: 30_000,
    keepAliveTimeoutMs: 5_000,
    maxBodyBytes: 1024 * 1024,
  };
}

export function connectionsForFileLimit(nofile: number | undefined): number {
  if (nofile === undefined || !Number.isFinite(nofile)) return 1024;
  return Math.max(8, Math.min(1024, Math.floor(nofile / 2) - 64));
}

/** The soft RLIMIT_NOFILE of this process (Linux /proc), or undefined where that cannot be read. */
export function openFilesLimit(): number | undefined {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
    if (!m) return undefined;
    return m[1] === 'unlimited' ? Infinity : Number(m[1]);
  } catch {
    return undefined;
  }
}
