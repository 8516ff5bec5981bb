import type { SendMailOptions } from 'nodemailer';
import * as path from 'node:path';
import { resolveConfig, SchemaRegistry, TenantDirectory, type EffectiveTenant } from '../../src/config';
import { builtInKinds } from '../../src/kinds';
import { messageIdFor } from '../../src/plugin';
import type { SpoolRecord } from '../../src/spool';
import { Renderer } from '../../src/templates';
import { packageRoot } from '../../src/util/package-root';
import { voicemail } from './host';

export type Mail = SendMailOptions;

/** The mail the plugin would send for one voicemail event, rendered by the plugin's own Renderer. */
export class Composer {
  readonly #schemas = new SchemaRegistry();
  readonly #kinds = builtInKinds(this.#schemas);
  readonly #renderer = new Renderer(path.join(packageRoot(__dirname), 'templates'), { debug() {}, info() {}, warn() {}, error() {} }, undefined, this.#kinds);
  readonly tenant: EffectiveTenant;

  constructor(config: unknown, readonly tenantId: string) {
    this.tenant = new TenantDirectory(resolveConfig(config, this.#schemas)).get(tenantId)!;
  }

  compose(): Mail {
    const event = this.#kinds.validate(voicemail(this.tenantId));
    const rec: SpoolRecord = {
      seq: 1,
      eventId: event.id,
      tenant: this.tenantId,
      type: event.type,
      event,
      attachments: [],
      pending: [`alice@${this.tenantId}`],
      delivered: [],
      failed: [],
      state: 'queued',
      attempts: 0,
      createdAt: Date.now(),
      ageFrom: Date.now(),
      updatedAt: Date.now(),
      nextAttemptAt: Date.now(),
      messageId: messageIdFor(this.tenantId, event.id, this.tenant.domain),
    };
    const r = this.#renderer.render(rec, this.tenant);
    return {
      from: this.tenant.from,
      to: [{ name: 'Alice Example', address: `alice@${this.tenantId}` }],
      envelope: { from: this.tenant.fromAddress, to: rec.pending },
      subject: r.subject,
      text: r.text,
      html: r.html,
      messageId: rec.messageId,
      date: new Date(rec.createdAt),
      headers: { 'Auto-Submitted': 'auto-generated', 'X-Auto-Response-Suppress': 'All', 'Content-Language': r.language, 'X-PBX-Event-Id': rec.eventId },
    };
  }
}

