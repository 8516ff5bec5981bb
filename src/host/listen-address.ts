import * as net from 'node:net';
import { PluginError } from '../errors';

/** Where the HTTP intake listens. */
export interface ListenAddress {
  /** An IP address or a host name, without brackets. */
  host: string;
  /** 0 picks a free port. */
  port: number;
}

/** @default 127.0.0.1:8787 */
export const DEFAULT_LISTEN: ListenAddress = { host: '127.0.0.1', port: 8787 };

/**
 * Parses `--listen ADDR:PORT`: `127.0.0.1:8787`, `[::1]:8787`, `0.0.0.0:8787`, `pbx.example.net:8787`.
 * @example parseListen('[::1]:9000') // { host: '::1', port: 9000 }
 */
export function parseListen(text: string): ListenAddress {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new PluginError('CONFIG_INVALID', `--listen: expected ADDR:PORT (e.g. 127.0.0.1:8787 or [::1]:8787), got ${JSON.stringify(text)}`, { field: '--listen' });
  const host = m[1] ?? m[2]!;
  if (m[1] !== undefined && net.isIPv6(host) === false) throw new PluginError('CONFIG_INVALID', `--listen: ${JSON.stringify(host)} in brackets is not an IPv6 address`, { field: '--listen' });
  return { host, port };
}

const WILDCARD = new Set(['0.0.0.0', '::', '']);

export function isWildcard(host: string): boolean {
  return WILDCARD.has(host);
}

/** 127.0.0.0/8, ::1, ::ffff:127.x and `localhost`. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  if (h === 'localhost' || h === '::1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h;
  return net.isIPv4(v4) && v4.startsWith('127.');
}

/**
 * The `Host` header check against DNS rebinding: a page on `evil.example` that re-points its
 * name to 127.0.0.1 still sends `Host: evil.example`. Accepted: the listen address itself, the
 * names given with --allow-host, `localhost` on a loopback bind, and any IP literal on a wildcard
 * bind (0.0.0.0 / ::), since a rebinding attack always comes with a DNS name.
 */
export function hostAllowed(hostHeader: string | undefined, listen: ListenAddress, allowHosts: readonly string[]): boolean {
  if (!hostHeader) return false;
  const name = hostName(hostHeader);
  if (name === undefined) return false;
  if (name === listen.host.toLowerCase()) return true;
  if (allowHosts.some((a) => a.toLowerCase() === name)) return true;
  if (isLoopback(listen.host) && (name === 'localhost' || isLoopback(name))) return true;
  if (isWildcard(listen.host) && (net.isIP(name) !== 0 || name === 'localhost')) return true;
  return false;
}

/** The host part of a Host header (`a.example:80`, `[::1]:8787`), lowercased, brackets dropped; undefined when malformed. */
export function hostName(hostHeader: string): string | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s/@]+))(?::\d{1,5})?$/.exec(hostHeader.trim());
  return m ? (m[1] ?? m[2]!).toLowerCase() : undefined;
}
