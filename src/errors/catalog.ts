/**
 * Every stable error code the plugin produces, with what it means. Codes never change meaning;
 * the README's error table is this list.
 */
export const ERROR_CATALOG = {
  CONFIG_INVALID: 'The plugin configuration does not match schemas/config.schema.json; `problems` lists every path and reason.',
  MANIFEST_INVALID: 'plugin.json does not match schemas/plugin.schema.json (reference host).',
  HOST_API_UNSUPPORTED: "The host's contract version is outside the manifest's hostApi range.",
  HTTP_UNAUTHORIZED: 'Reference host: the request has no `Authorization: Bearer <token>` header, or the wrong token (HTTP 401).',
  HTTP_ORIGIN_REFUSED: 'Reference host: the request carries an `Origin` header from another origin (a web page in the browser, HTTP 403).',
  HTTP_HOST_REFUSED: 'Reference host: the `Host` header is not the listen address nor a name given with --allow-host (DNS rebinding, HTTP 421).',
  HTTP_MEDIA_TYPE: 'Reference host: a POST body that is not `Content-Type: application/json` (HTTP 415).',
  HTTP_BODY_TOO_LARGE: 'Reference host: the request body is over the 1 MiB limit (HTTP 413).',
  HTTP_BAD_REQUEST: 'Reference host: a malformed request (request line, URL, headers or framing) (HTTP 400, or 431 for over-large headers).',
  HTTP_TIMEOUT: 'Reference host: the request headers or body did not arrive in time (HTTP 408).',
  HTTP_NOT_FOUND: 'Reference host: no such endpoint (HTTP 404), or a method the endpoint does not take (HTTP 405).',
  HTTP_OVERLOADED: 'Reference host: every allowed connection is busy with a request; retry later (HTTP 503).',
  HTTP_INTERNAL: 'Reference host: an unexpected failure while answering a request; logged with its cause (HTTP 500).',
  EVENT_INVALID: 'The event does not match its schema; `field` names the offending JSON path.',
  EVENT_TYPE_UNKNOWN: 'The event type is not one this plugin handles.',
  TENANT_NOT_CONFIGURED: 'The tenant has no usable `from` or `smtp.host`, even after merging defaults.',
  ATTACHMENT_FORBIDDEN: 'The attachment resolves outside attachmentRoots, or is not a regular file.',
  ATTACHMENT_NOT_FOUND: 'The attachment file, inside attachmentRoots, does not exist or cannot be read.',
  ATTACHMENT_MISSING: 'Logged, not thrown: a spooled attachment copy was deleted before delivery; the mail went without it and says so.',
  PLUGIN_STOPPED: 'The plugin instance is deactivated and takes no more events.',
  SPOOL_FAILURE: 'The durable spool could not store the event (disk full, I/O error, too many open files); nothing was queued and the host may retry.',
  SPOOL_LOCKED: 'Another live plugin instance (this process or another) holds the data directory; only one instance may use a dataDir.',
  SPOOL_CORRUPT: 'The spool database failed its integrity check; restore dataDir from a backup or move spool.db aside (see the README).',
  HOOK_INVALID: 'An unknown hook name, or a hook that is not a function.',
  TEMPLATE_INVALID: 'A template failed to compile or render, or uses a forbidden construct.',
  SMTP_CONNECT: 'Temporary: the tenant server refused or dropped the connection.',
  SMTP_TIMEOUT: 'Temporary: the tenant server did not answer in time (connect, greeting, idle or overall deadline).',
  SMTP_TLS: 'Temporary: TLS was required and could not be established (no STARTTLS, 454, handshake or certificate failure).',
  SMTP_AUTH: 'The tenant server refused its credentials: a configuration problem, retried only after a long hold.',
  SMTP_TEMPORARY: 'Temporary: the server answered 4xx (or 503).',
  SMTP_PERMANENT: 'Permanent: the server answered 5xx for the message or a recipient.',
  DKIM_FAILED: 'Temporary, this message only: the tenant signs with DKIM and the signature could not be made; the mail is never sent unsigned.',
  HOOK_TIMEOUT: 'Temporary, this message only: a beforeSend hook did not settle within the per-message deadline.',
  HOOK_FAILED: 'Temporary, this message only: a beforeSend hook threw or rejected.',
  COMPOSE_FAILED: 'Temporary, this message only: the mail could not be built (a programming or data error before any byte reached the server).',
  MESSAGE_EXPIRED: 'Permanent: the message stayed undeliverable past delivery.retry.maxAgeMs.',
} as const;

export type ErrorCode = keyof typeof ERROR_CATALOG;
