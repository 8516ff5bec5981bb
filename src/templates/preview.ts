import { mergeTenant, type ResolvedConfig } from '../config';
import { PluginError } from '../errors';
import type { KindEvent, KindRegistry } from '../kinds';
import type { TemplateTenant } from './context';
import type { TemplateProblem, UnsavedSources } from './renderer';
import type { RenderService } from './render-service';
import { TEMPLATE_SIZE_LIMITS, type TemplateKind } from './template-safety';
import { previewRecord } from './samples';

/** What an admin UI asks to see. */
export interface PreviewRequest {
  /** Tenant id (PBX domain); only tenants listed in the configuration's `tenants` are served (else TENANT_NOT_CONFIGURED). */
  tenant: string;
  /** A registered event type (built-in or from an extension). */
  eventType: string;
  /** Language to preview in; the event's (or the tenant's) when omitted. */
  language?: string;
  /** An event to render instead of the sample (validated like a real one). */
  event?: unknown;
  /** Unsaved template sources that win over the tenant's own: strings only (subject, text, html, layout) and `partials` as an object of strings. Rendered for this preview alone, never cached. */
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
  render: RenderService;
  kinds: KindRegistry;
  config: ResolvedConfig;
  /** Serve tenants that are not in the configuration too (they use `defaults`): the operator's own tools only. @default false */
  anyTenant?: boolean;
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
 * Rejects EVENT_TYPE_UNKNOWN for an unknown type, EVENT_INVALID (with `field`) for a bad
 * tenant id, language, event or sources, and TENANT_NOT_CONFIGURED for a tenant the
 * configuration does not list. Renders on the same budget as mail.
 */
export async function renderPreview(deps: PreviewDeps, req: PreviewRequest): Promise<PreviewResult> {
  if (!req || typeof req !== 'object') throw new PluginError('EVENT_INVALID', 'expected a preview request object', { field: '/' });
  if (typeof req.tenant !== 'string' || !TENANT_ID.test(req.tenant) || req.tenant.length > 253) {
    throw new PluginError('EVENT_INVALID', `/tenant: expected a tenant id (PBX domain), received ${JSON.stringify(req.tenant)?.slice(0, 80)}`, { field: '/tenant' });
  }
  if (!deps.anyTenant && !Object.hasOwn(deps.config.tenants, req.tenant)) {
    throw new PluginError('TENANT_NOT_CONFIGURED', `/tenant: ${req.tenant} is not a tenant of this configuration; preview serves configured tenants only`, { field: '/tenant' });
  }
  const kind = deps.kinds.get(req.eventType);
  if (!kind) {
    throw new PluginError('EVENT_TYPE_UNKNOWN', `/eventType: expected one of ${deps.kinds.types().join(', ')}, received ${JSON.stringify(req.eventType)?.slice(0, 80)}`, { field: '/eventType' });
  }
  if (req.language !== undefined && (typeof req.language !== 'string' || !LANGUAGE.test(req.language))) {
    throw new PluginError('EVENT_INVALID', `/language: expected a BCP 47 tag such as de or de-AT, received ${JSON.stringify(req.language)?.slice(0, 80)}`, { field: '/language' });
  }
  const sources = req.sources === undefined ? undefined : checkSources(req.sources);
  let event: KindEvent;
  let bytes: number | undefined;
  if (req.event !== undefined) {
    event = deps.kinds.validate(req.event);
    if (event.type !== req.eventType) throw new PluginError('EVENT_INVALID', `/event/type: expected ${req.eventType}, received ${event.type}`, { field: '/event/type' });
    deps.kinds.recipient(event);
  } else {
    if (!kind.sample) throw new PluginError('EVENT_INVALID', `/event: the ${kind.type} kind has no sample; give an event to preview`, { field: '/event' });
    event = structuredClone(kind.sample.event);
    bytes = kind.sample.attachmentBytes;
  }
  const problems: TemplateProblem[] = [];
  const rec = previewRecord(event, req.tenant, bytes, kind);
  // The language asked for wins over the event's own (the sample's is ignored). A kind whose
  // recipients() does not read data.recipient previews in its recipient's language.
  const recipient = (event.data as { recipient?: { language?: string } }).recipient;
  if (recipient && typeof recipient === 'object') {
    if (req.language !== undefined) recipient.language = req.language;
    else if (req.event === undefined) delete recipient.language;
  }
  const mail = await deps.render.render(rec, templateTenant(deps.config, req.tenant), { ...(sources && { sources }), problems, lane: 'preview' });
  return { ...mail, problems };
}

const SOURCE_KINDS: Record<string, TemplateKind> = { subject: 'subject', text: 'text', html: 'html', layout: 'layout' };
const PARTIAL_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
const MAX_UNSAVED_PARTIALS = 64;

/** Preview sources as plain strings (an object such as a parsed template would skip the safety check), copied so nothing of the request is kept. */
function checkSources(raw: unknown): UnsavedSources {
  const refuse = (field: string, expected: string, got: unknown) =>
    new PluginError('EVENT_INVALID', `${field}: expected ${expected}, received ${got === null ? 'null' : Array.isArray(got) ? 'an array' : typeof got}`, { field });
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw refuse('/sources', 'an object of template sources', raw);
  const out: UnsavedSources = {};
  for (const [k, v] of Object.entries(raw)) {
    if (k === 'partials') continue;
    const kind = SOURCE_KINDS[k];
    if (!kind) throw new PluginError('EVENT_INVALID', `/sources/${k}: unknown key; expected subject, text, html, layout or partials`, { field: `/sources/${k}` });
    if (typeof v !== 'string') throw refuse(`/sources/${k}`, 'a template source string', v);
    if (v.length > TEMPLATE_SIZE_LIMITS[kind]) throw new PluginError('EVENT_INVALID', `/sources/${k}: ${v.length} characters; the limit for ${kind} templates is ${TEMPLATE_SIZE_LIMITS[kind]}`, { field: `/sources/${k}` });
    out[k as 'subject'] = v;
  }
  const partials = (raw as { partials?: unknown }).partials;
  if (partials !== undefined) {
    if (!partials || typeof partials !== 'object' || Array.isArray(partials)) throw refuse('/sources/partials', 'an object of partial sources by name', partials);
    const entries = Object.entries(partials);
    if (entries.length > MAX_UNSAVED_PARTIALS) throw new PluginError('EVENT_INVALID', `/sources/partials: ${entries.length} partials; at most ${MAX_UNSAVED_PARTIALS}`, { field: '/sources/partials' });
    out.partials = {};
    for (const [name, v] of entries) {
      const field = `/sources/partials/${name.replace(/~/g, '~0').replace(/\//g, '~1')}`;
      if (!PARTIAL_NAME.test(name)) throw new PluginError('EVENT_INVALID', `${field}: a partial name is letters, digits, - and _`, { field });
      if (typeof v !== 'string') throw refuse(field, 'a template source string', v);
      if (v.length > TEMPLATE_SIZE_LIMITS.partial) throw new PluginError('EVENT_INVALID', `${field}: ${v.length} characters; the limit for partial templates is ${TEMPLATE_SIZE_LIMITS.partial}`, { field });
      out.partials[name] = v;
    }
  }
  return out;
}
