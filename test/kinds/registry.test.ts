import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import { SchemaRegistry } from '../../src/config';
import { PluginError } from '../../src/errors';
import { builtInKinds, SHAPES, type EventKindSpec } from '../../src/kinds';

const root = path.join(__dirname, '../..');
const BUILT_IN = ['voicemail.received', 'fax.received', 'call.missed'];

function refusal(fn: () => unknown): PluginError {
  try {
    fn();
  } catch (e) {
    expect(e).to.be.instanceOf(PluginError);
    return e as PluginError;
  }
  throw new Error('not refused');
}

const spec = (over: Partial<EventKindSpec> = {}): EventKindSpec => ({
  schema: { type: 'object', additionalProperties: false, required: ['recipient'], properties: { recipient: SHAPES.Recipient, title: { type: 'string', description: 't', 'x-untrusted': true }, notes: { type: 'string', description: 'n', 'x-untrusted': { limit: 12, multiline: true } }, tags: { type: 'array', description: 'tags', items: { type: 'string', description: 'tag', 'x-untrusted': { limit: 4 } } } } },
  templates: { subject: 's {{event.data.title}}', text: 't', html: '<p>h</p>' },
  ...over,
});

describe('kinds: the registry of event kinds', () => {
  it('holds the built-in kinds, each defined through defineEvent from its own folder', () => {
    const kinds = builtInKinds(new SchemaRegistry());
    expect(kinds.types()).to.deep.equal(BUILT_IN);
    for (const k of kinds.all()) {
      expect([k.origin, k.builtIn, !!k.sample], k.type).to.deep.equal(['built-in', true, true]);
      expect([...k.templates.languages].sort(), k.type).to.deep.equal(['de', 'en', 'es', 'fr']);
    }
    expect(kinds.get('voicemail.received')!.attachments).to.deep.equal([{ field: 'recording', role: 'recording', name: 'voicemail', url: 'recordingUrl' }]);
    expect(kinds.get('fax.received')!.attachments).to.deep.equal([{ field: 'document', role: 'document', name: 'fax', url: 'faxUrl' }]);
    expect(kinds.get('call.missed')!.attachments).to.deep.equal([]);
  });

  it('a new kind validates its events (EVENT_INVALID naming the field) and neutralises its x-untrusted fields, in arrays too', () => {
    const kinds = builtInKinds(new SchemaRegistry());
    kinds.define('trunk.down', spec(), 'test-extension');
    const event = { id: 'e1', type: 'trunk.down', tenant: 'acme.example.com', occurredAt: '2026-11-28T12:00:00Z', data: { recipient: { extension: '1', name: 'Ops\u202e\r\nBcc: x@y', email: ['ops@acme.example.com'] }, title: 'Trunk\r\n=?UTF-8?B?QQ==?=\u0000 1', notes: 'a\r\n\r\n\r\nb\u0007 and more text', tags: ['sip\r\n1', 'abcdefgh'] } };
    const clean = kinds.validate(event);
    expect(clean.data).to.deep.equal({ recipient: { extension: '1', name: 'Ops Bcc: x@y', email: ['ops@acme.example.com'] }, title: 'Trunk = ?UTF-8?B?QQ== ?= 1', notes: 'a\n\nb and mo…', tags: ['sip…', 'abc…'] });
    expect(event.data.title, 'the host’s object is left as it was').to.equal('Trunk\r\n=?UTF-8?B?QQ==?=\u0000 1');
    for (const [bad, field] of [
      [{ ...event, data: { ...event.data, title: 5 } }, '/data/title'],
      [{ ...event, data: { ...event.data, extra: 1 } }, '/data/extra'],
      [{ ...event, data: { title: 'x' } }, '/data/recipient'],
      [{ ...event, tenant: 'bad tenant' }, '/tenant'],
      [{ ...event, occurredAt: 'yesterday' }, '/occurredAt'],
    ] as const) {
      const e = refusal(() => kinds.validate(bad));
      expect([e.code, e.field], field).to.deep.equal(['EVENT_INVALID', field]);
    }
    const unknown = refusal(() => kinds.validate({ ...event, type: 'trunk.up' }));
    expect(unknown.code).to.equal('EVENT_TYPE_UNKNOWN');
    expect(unknown.message).to.equal('/type: expected one of voicemail.received, fax.received, call.missed, trunk.down, received "trunk.up"');
  });

  it('refuses a malformed kind with KIND_INVALID naming the part of its description, and keeps nothing of it', () => {
    const schemas = new SchemaRegistry();
    const kinds = builtInKinds(schemas);
    const cases: [string, Partial<EventKindSpec> | undefined, string, RegExp][] = [
      ['Trunk.Down', undefined, 'type', /expected a dotted lowercase event type/],
      ['voicemail.received', undefined, 'type', /already defined \(by built-in\)/],
      ['x.schema', { schema: { type: 'object', properties: { a: { type: 'string', frobnicate: true } } } }, 'schema', /schema does not compile: strict mode: unknown keyword: "frobnicate"/],
      ['x.untrusted', { schema: { type: 'object', properties: { a: { type: 'string', 'x-untrusted': { limit: 'long' } } } } }, 'schema', /schema does not compile/],
      ['x.parts', { templates: { subject: 's', html: 'h' } }, 'templates/text', /no text in English or language-neutral form/],
      ['x.syntax', { templates: { subject: '{{#if}}', text: 't', html: 'h' } }, 'templates', /does not parse/],
      ['x.dir', { templates: '/nonexistent/templates' }, 'templates', /does not exist/],
      ['x.unknownpart', { templates: { subject: 's', text: 't', html: 'h', body: 'b' } as never }, 'templates/body', /unknown part/],
      ['x.attach', { attachments: [{ field: 'file', role: 'Bad Role' }] }, 'attachments/0/role', /lowercase letters/],
      ['x.sample', { sample: { id: 's', type: 'x.sample', tenant: 'acme.example.com', occurredAt: '2026-11-28T12:00:00Z', data: { recipient: { extension: '1', email: ['not-an-address'] } } } }, 'sample/data/recipient/email/0', /sample is not a valid x\.sample event/],
      ['x.recipients', { recipients: 'alice' as never }, 'recipients', /recipients must be a function/],
    ];
    for (const [type, over, field, message] of cases) {
      const e = refusal(() => kinds.define(type, spec(over), 'test'));
      expect([e.code, e.field], type).to.deep.equal(['KIND_INVALID', field]);
      expect(e.message, type).to.match(message);
    }
    expect(kinds.types()).to.deep.equal(BUILT_IN);
    // Nothing was left registered: the same types can be defined now.
    kinds.define('x.sample', spec(), 'test');
    expect(kinds.types()).to.deep.equal([...BUILT_IN, 'x.sample']);
  });

  it('recipients(event) decides who gets the mail; one that gives no usable recipient refuses the event (EVENT_INVALID)', () => {
    const kinds = builtInKinds(new SchemaRegistry());
    kinds.define('x.owner', spec({ schema: { type: 'object', additionalProperties: false, required: ['owner'], properties: { owner: { type: 'string', description: 'o' } } }, recipients: (e) => ({ extension: '9', email: [String(e.data.owner)] }) }), 'test');
    const event = (owner: string) => ({ id: 'o1', type: 'x.owner', tenant: 'acme.example.com', occurredAt: '2026-11-28T12:00:00Z', data: { owner } });
    expect(kinds.recipient(kinds.validate(event('boss@acme.example.com')))).to.deep.equal({ extension: '9', email: ['boss@acme.example.com'] });
    const e = refusal(() => kinds.recipient(kinds.validate(event('nobody'))));
    expect([e.code, e.field]).to.deep.equal(['EVENT_INVALID', '/data/recipient']);
  });
});

describe('kinds: the built-in type names live only in their own folders', () => {
  it('no file under src/ names voicemail.received, fax.received or call.missed but the kinds\' own folders (their generated types included)', () => {
    const allowed = [/^src\/kinds\/(voicemail-received|fax-received|call-missed)\//];
    const found: string[] = [];
    const walk = (dir: string): void => {
      for (const d of fs.readdirSync(path.join(root, dir), { withFileTypes: true })) {
        const rel = `${dir}/${d.name}`;
        if (d.isDirectory()) walk(rel);
        else if (!allowed.some((a) => a.test(rel))) {
          const text = fs.readFileSync(path.join(root, rel), 'utf8');
          for (const name of BUILT_IN) if (text.includes(name)) found.push(`${rel}: ${name}`);
        }
      }
    };
    walk('src');
    expect(found).to.deep.equal([]);
    // The check can fail: a kind's folder does name its type.
    expect(fs.readFileSync(path.join(root, 'src/kinds/call-missed/index.ts'), 'utf8')).to.include('call.missed');
  });
});
