import type { SmtpSettings } from '../generated/schema-types';

export type ProviderName = NonNullable<SmtpSettings['provider']>;

export interface ProviderPreset {
  host: string;
  port: number;
  security: 'starttls' | 'tls';
  /** OAuth2 token endpoint of the refresh-token grant. */
  tokenUrl: string;
  /** Scope requested with the grant when the tenant names none. */
  scope: string;
}

/**
 * What `smtp.provider` fills in. The operator supplies only the credentials; any key set in the
 * tenant's `smtp` (or `auth.tokenUrl`, `auth.scope`) wins over the preset.
 */
export const PROVIDER_PRESETS: Readonly<Record<ProviderName, Readonly<ProviderPreset>>> = Object.freeze({
  microsoft365: Object.freeze({
    host: 'smtp.office365.com',
    port: 587,
    security: 'starttls',
    tokenUrl: 'https://login.microsoftonline.com/common/oauth2/v2.0/token',
    scope: 'https://outlook.office365.com/.default offline_access',
  }),
  google: Object.freeze({
    host: 'smtp.gmail.com',
    port: 587,
    security: 'starttls',
    tokenUrl: 'https://oauth2.googleapis.com/token',
    scope: 'https://mail.google.com/',
  }),
});

/**
 * The tenant's SMTP settings with its provider preset filled in under its own keys: host, port
 * and security, and for OAuth2 the token URL and scope. Without a provider, `smtp` unchanged.
 */
export function applyProviderPreset(smtp: SmtpSettings): SmtpSettings {
  const preset = smtp.provider ? PROVIDER_PRESETS[smtp.provider] : undefined;
  if (!preset) return smtp;
  const out: SmtpSettings = {
    ...smtp,
    host: smtp.host ?? preset.host,
    security: smtp.security ?? preset.security,
    port: smtp.port ?? (smtp.security === undefined || smtp.security === preset.security ? preset.port : undefined),
  };
  if (out.port === undefined) delete out.port;
  if (smtp.auth?.type === 'oauth2') {
    out.auth = { ...smtp.auth, tokenUrl: smtp.auth.tokenUrl ?? preset.tokenUrl, scope: smtp.auth.scope ?? preset.scope };
  }
  return out;
}
