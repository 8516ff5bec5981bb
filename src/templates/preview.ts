import { mergeTenant, type ResolvedConfig, type SchemaRegistry } from '../config';
import { PluginError } from '../errors';
import { isEventType, neutraliseEvent, validateEvent, type KnownEvent } from '../events';
import type { TemplateTenant } from './context';
import type { Renderer, TemplateProblem, UnsavedSources } from './renderer';
import { loadSample, previewRecord } from './samples';

/** What an admin UI asks to see. */
export interface PreviewRequest {
  /** Tenant id (PBX domain); a tenant not in the config previews with `defaults` alone. */
  tenant: string;
  /** voicemail.received, fax.received or call.missed. */
  eventType: string;
  /** Language to preview in; the event's (or the tenant's) when omitted. */
  language?: string;
  /** An event to render instead of the sample (validated like a real one). */
  event?: unknown;
  /** Unsaved template sources (subject, text, html, layout, partials) that win over the tenant's own. */
  sources?: UnsavedSources;
}

export interface PreviewResult {
  subject: string;
  text: string;
  html: string;
  /** The language the mail came out in. */
  language: string;
  /** Tenant templates (saved or not) that failed and were replaced by the next level. */
  problems: TemplateProblem[];
}

export interface PreviewDeps {
  renderer: Renderer;
  schemas: SchemaRegistry;
  config: ResolvedConfig;
  /** The package templates/ folder (samples live in templates/samples/). */
  root: string;
}

const TENANT_ID = /^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$/;
const LANGUAGE = /^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$/;

/** The settings a tenant's mail is rendered with, whether or not it can send yet. */
export function templateTenant(config: ResolvedConfig, id: string): TemplateTenant {
  const own = Object.hasOwn(config.tenants, id) ? config.tenants[id] : undefined;
  return { ...mergeTenant(config.defaults, own), id };
}

/**
 * Renders `{subject, text, html}` for a tenant, event type and language, from the sample event
 * or a given one, optionally with unsaved sources. Sends nothing and stores nothing.
 * Rejects EVENT_TYPE_UNKNOWN for an unknown type and EVENT_INVALID (with `field`) for a bad
 * tenant id, language or event.
 */
export function renderPreview(deps: PreviewDeps, req: PreviewRequest): PreviewResult {
  if (!req || typeof req !== 'object') throw new PluginError('EVENT_INVALID', 'expected a preview request object', { field: '/' });
  if (typeof req.tenant !== 'string' || !TENANT_ID.test(req.tenant) || req.tenant.length > 253) {
    throw new PluginError('EVENT_INVALID', `/tenant: expected a tenant id (PBX domain), received ${JSON.stringify(req.tenant)?.slice(0, 80)}`, { field: '/tenant' });
  }
  if (!isEventType(req.eventType)) {
    throw new PluginError('EVENT_TYPE_UNKNOWN', `/eventType: expected one of voicemail.received, fax.received, call.missed, received ${JSON.stringify(req.eventType)?.slice(0, 80)}`, { field: '/eventType' });
  }
  if (req.language !== undefined && (typeof req.language !== 'string' || !LANGUAGE.test(req.language))) {
    throw new PluginError('EVENT_INVALID', `/language: expected a BCP 47 tag such as de or de-AT, received ${JSON.stringify(req.language)?.slice(0, 80)}`, { field: '/language' });
  }
  let event: KnownEvent;
  let bytes: number | undefined;
  if (req.event !== undefined) {
    event = neutraliseEvent(validateEvent(req.event, deps.schemas));
    if (event.type !== req.eventType) throw new PluginError('EVENT_INVALID', `/event/type: expected ${req.eventType}, received ${event.type}`, { field: '/event/type' });
  } else {
    const sample = loadSample(deps.root, req.eventType);
    event = structuredClone(sample.event);
    bytes = sample.attachmentBytes;
    delete (event.data.recipient as { language?: string }).language;
  }
  if (req.language !== undefined) (event.data.recipient as { language?: string }).language = req.language;
  const problems: TemplateProblem[] = [];
  const rec = previewRecord(event, req.tenant, bytes);
  const mail = deps.renderer.render(rec, templateTenant(deps.config, req.tenant), { ...(req.sources && { sources: req.sources }), problems });
  return { ...mail, problems };
}
