'use strict';
// A pbx-email-notify extension: every missed-call mail gets an `X-CRM-Link` header and a footer
// line linking the caller in the CRM. The CRM's address comes from CRM_BASE_URL (an https URL).

/** @param {import('pbx-email-notify').ExtensionApi} api */
exports.register = (api) => {
  const base = process.env.CRM_BASE_URL || 'https://crm.example/lookup';
  if (!/^https:\/\/[^\s]+$/.test(base)) throw new Error(`CRM_BASE_URL must be an https URL, received ${JSON.stringify(base)}`);

  api.hook('beforeSend', ({ event, message }) => {
    if (event.type !== 'call.missed') return;
    const number = String(event.data.caller.number);
    const link = `${base}?phone=${encodeURIComponent(number)}`;
    message.headers['X-CRM-Link'] = link;
    message.text = `${message.text.trimEnd()}\n\nCaller in the CRM: ${link}\n`;
    const footer = `<p style="font-size: 12px; color: #4b5563;">Caller in the CRM: <a href="${api.escape(link)}">${api.escape(number)}</a></p>`;
    message.html = message.html.includes('</body>') ? message.html.replace('</body>', `${footer}</body>`) : message.html + footer;
  });
};
