import type { SmtpSettings, TenantSettings } from '../generated/schema-types';
import type { Problem } from '../errors';
import { applyProviderPreset } from '../auth/provider-presets';
import { dkimKeyAlgorithm } from '../security/dkim-key';

const DEFAULT_PORT = { starttls: 587, tls: 465, none: 25 } as const;

/** A tenant's settings after `defaults` were overlaid with `tenants[id]`, ready to deliver with. */
export interface EffectiveTenant extends Omit<TenantSettings, 'smtp' | 'from'> {
  readonly id: string;
  readonly from: string;
  /** The address part of `from`, e.g. pbx@acme.example.com. */
  readonly fromAddress: string;
  /** The domain of `from`, used for the Message-ID. */
  readonly domain: string;
  /** With the provider preset filled in (host, port, security, OAuth2 token URL and scope). */
  readonly smtp: Readonly<SmtpSettings> & { readonly host: string; readonly port: number; readonly security: 'starttls' | 'tls' | 'none' };
}

/**
 * Overlays a tenant's settings on the defaults without writing to either. `smtp` is taken as a
 * whole, so one server's credentials never reach another; `events` and `templates` merge per
 * event type (and per template part).
 */
export function mergeTenant(defaults: TenantSettings, own: TenantSettings | undefined): TenantSettings {
  if (!own) return defaults;
  const merged: TenantSettings = { ...defaults, ...own };
  merged.smtp = own.smtp ?? defaults.smtp;
  merged.dkim = own.dkim ?? defaults.dkim;
  if (defaults.attachments && own.attachments) merged.attachments = { ...defaults.attachments, ...own.attachments };
  merged.events = mergeByType(defaults.events, own.events);
  merged.templates = mergeByType(defaults.templates, own.templates);
  return merged;
}

function mergeByType<T extends object>(a: Record<string, T> | undefined, b: Record<string, T> | undefined) {
  if (!a || !b) return a ?? b;
  const out: Record<string, T> = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = { ...a[k], ...v };
  return out;
}

/** What keeps merged settings from being used to send; an empty list means usable. */
export function usabilityProblems(t: TenantSettings): Problem[] {
  const out: Problem[] = [];
  const smtp = t.smtp && applyProviderPreset(t.smtp);
  if (!smtp?.host) out.push({ path: '/smtp/host', message: 'is required (here or in defaults) unless smtp.provider is set' });
  if (smtp?.auth?.type === 'oauth2' && !smtp.auth.tokenUrl) out.push({ path: '/smtp/auth/tokenUrl', message: 'is required unless smtp.provider is set' });
  else if (smtp?.auth?.type === 'oauth2' && !isSafeTokenUrl(smtp.auth.tokenUrl!)) out.push({ path: '/smtp/auth/tokenUrl', message: 'must be https (plain http only to a loopback address)' });
  const key = t.dkim && dkimKeyAlgorithm(t.dkim.privateKey);
  if (key && 'problem' in key) out.push({ path: '/dkim/privateKey', message: key.problem });
  if (!t.from) out.push({ path: '/from', message: 'is required (here or in defaults)' });
  else if (!parseFrom(t.from)) out.push({ path: '/from', message: 'must be an address or "Name <address>"' });
  return out;
}

/** The address and domain in `pbx@x.example` or `Name <pbx@x.example>`; undefined when malformed. */
export function parseFrom(from: string): { address: string; domain: string } | undefined {
  const m = /^(?:[^<>]*<([^<>\s@]+@[^<>\s@]+)>|([^<>\s@]+@[^<>\s@]+))\s*$/.exec(from.trim());
  const address = m?.[1] ?? m?.[2];
  if (!address) return undefined;
  const domain = address.slice(address.lastIndexOf('@') + 1).toLowerCase();
  return /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/.test(domain) ? { address, domain } : undefined;
}

/** Completes merged settings for sending; undefined when they are not usable. */
export function effectiveTenant(id: string, t: TenantSettings): EffectiveTenant | undefined {
  if (usabilityProblems(t).length > 0) return undefined;
  const { address, domain } = parseFrom(t.from!)!;
  const smtp = applyProviderPreset(t.smtp!);
  const security = smtp.security ?? 'starttls';
  return {
    ...t,
    id,
    from: t.from!,
    fromAddress: address,
    domain,
    smtp: { ...smtp, host: smtp.host!, security, port: smtp.port ?? DEFAULT_PORT[security] },
  };
}

/** The client secret travels to the token URL: https, or http to this machine only. */
function isSafeTokenUrl(u: string): boolean {
  try {
    const url = new URL(u);
    return url.protocol === 'https:' || (url.protocol === 'http:' && /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/.test(url.hostname));
  } catch {
    return false;
  }
}
