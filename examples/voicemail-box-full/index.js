'use strict';
// A pbx-email-notify extension: `voicemail.box.full` tells the mailbox owner that callers can no
// longer leave messages. No attachment; templates inline, in English and German.

const TYPE = 'voicemail.box.full';

/** @param {import('pbx-email-notify').ExtensionApi} api */
exports.register = (api) => {
  api.defineEvent(TYPE, {
    schema: {
      type: 'object',
      additionalProperties: false,
      required: ['recipient', 'messages', 'capacity'],
      properties: {
        recipient: api.shapes.Recipient,
        mailbox: { description: 'Mailbox name as the PBX shows it (untrusted).', type: 'string', 'x-untrusted': { limit: 64 } },
        messages: { description: 'Messages in the box.', type: 'integer', minimum: 0 },
        capacity: { description: 'Messages the box holds.', type: 'integer', minimum: 1 },
      },
    },
    templates: {
      languages: {
        en: {
          subject: 'Your voicemail box is full ({{event.data.messages}} of {{event.data.capacity}})',
          text: 'Hello {{recipient.displayName}},\n\nyour voicemail box{{#if event.data.mailbox}} {{event.data.mailbox}}{{/if}} holds {{event.data.messages}} of {{event.data.capacity}} messages: callers cannot leave new ones. Delete old messages to make room.\n',
          html: '<h1>Your voicemail box is full</h1><p>Hello {{recipient.displayName}}, your voicemail box{{#if event.data.mailbox}} <strong>{{event.data.mailbox}}</strong>{{/if}} holds {{event.data.messages}} of {{event.data.capacity}} messages: callers cannot leave new ones.</p><p>Delete old messages to make room.</p>',
        },
        de: {
          subject: 'Ihr Anrufbeantworter ist voll ({{event.data.messages}} von {{event.data.capacity}})',
          text: 'Hallo {{recipient.displayName}},\n\nIhr Anrufbeantworter{{#if event.data.mailbox}} {{event.data.mailbox}}{{/if}} enthält {{event.data.messages}} von {{event.data.capacity}} Nachrichten: Anrufer können keine neuen hinterlassen. Löschen Sie alte Nachrichten.\n',
          html: '<h1>Ihr Anrufbeantworter ist voll</h1><p>Hallo {{recipient.displayName}}, Ihr Anrufbeantworter{{#if event.data.mailbox}} <strong>{{event.data.mailbox}}</strong>{{/if}} enthält {{event.data.messages}} von {{event.data.capacity}} Nachrichten: Anrufer können keine neuen hinterlassen.</p><p>Löschen Sie alte Nachrichten.</p>',
        },
      },
    },
    sample: {
      id: 'sample-box-full-0001',
      type: TYPE,
      tenant: 'sample.example.com',
      occurredAt: '2026-11-28T13:00:00Z',
      data: { recipient: { extension: '201', name: 'Alice Example', email: ['alice@sample.example.com'], language: 'en' }, mailbox: '201 Alice', messages: 100, capacity: 100 },
    },
  });
};
