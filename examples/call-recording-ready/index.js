'use strict';
// A pbx-email-notify extension: when the PBX reports `call.recording.ready`, mail the recipient a
// link to the recording (in English or German), with a helper that builds a CRM search link.
// Configure it with "extensions": ["/path/to/examples/call-recording-ready"].
const path = require('node:path');
const schema = require('./schema.json');

const TYPE = 'call.recording.ready';

/** @param {import('pbx-email-notify').ExtensionApi} api */
exports.register = (api) => {
  // {{crmSearch caller.number}}: a plain string, so it is escaped, and in href it must be http(s).
  api.helper('crmSearch', (number) => `https://crm.example/search?phone=${encodeURIComponent(String(number ?? ''))}`);

  api.defineEvent(TYPE, {
    schema,
    templates: path.join(__dirname, 'templates'),
    context: (event, t) => ({
      caller: t.caller(event.data.caller),
      recording: { title: event.data.title, url: event.data.url, length: t.duration(event.data.durationSeconds, 'long'), ...(event.data.notes && { notes: event.data.notes }) },
    }),
    sample: {
      id: 'sample-recording-0001',
      type: TYPE,
      tenant: 'sample.example.com',
      occurredAt: '2026-11-28T12:30:00Z',
      data: {
        recipient: { extension: '201', name: 'Alice Example', email: ['alice@sample.example.com'], language: 'en', timeZone: 'Europe/Berlin' },
        caller: { number: '+493012345678', name: 'Bob Caller' },
        title: 'Delivery dates for Thursday',
        notes: 'Bob needs the pallets by 10:00.',
        url: 'https://recordings.example/r/0001',
        durationSeconds: 312,
      },
    },
  });
};
