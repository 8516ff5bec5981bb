/**
 * "Message 3, Inbox" in the mail's language, for `#3 (INBOX)` as the PBX sends it. The folder
 * names PBXs use for their standard voicemail folders (Asterisk's app_voicemail: INBOX, Old,
 * Work, Family, Friends, Urgent, Deleted; FreeSWITCH's inbox) are translated, matched without
 * regard to case; any other name is shown as the PBX sent it (already neutralised).
 */
const FOLDERS: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  inbox: { en: 'Inbox', de: 'Posteingang', fr: 'Boîte de réception', es: 'Bandeja de entrada' },
  old: { en: 'Old messages', de: 'Alte Nachrichten', fr: 'Anciens messages', es: 'Mensajes antiguos' },
  work: { en: 'Work', de: 'Arbeit', fr: 'Travail', es: 'Trabajo' },
  family: { en: 'Family', de: 'Familie', fr: 'Famille', es: 'Familia' },
  friends: { en: 'Friends', de: 'Freunde', fr: 'Amis', es: 'Amigos' },
  urgent: { en: 'Urgent', de: 'Dringend', fr: 'Urgent', es: 'Urgente' },
  deleted: { en: 'Deleted', de: 'Gelöscht', fr: 'Supprimés', es: 'Eliminados' },
};

const MESSAGE: Readonly<Record<string, string>> = { en: 'Message', de: 'Nachricht', fr: 'Message', es: 'Mensaje' };

/** The language of a locale tag that has words here (`de-AT` → `de`), else English. */
function wordsFor(locale: string): string {
  const lang = locale.toLowerCase().split('-')[0] ?? 'en';
  return Object.hasOwn(MESSAGE, lang) ? lang : 'en';
}

/**
 * A folder's name for the reader.
 * @example folderName('INBOX', 'de') // 'Posteingang'
 * @example folderName('Projects', 'de') // 'Projects'
 */
export function folderName(folder: string, locale: string): string {
  const known = Object.hasOwn(FOLDERS, folder.toLowerCase()) ? FOLDERS[folder.toLowerCase()] : undefined;
  return known?.[wordsFor(locale)] ?? folder;
}

/**
 * The message's place in the mailbox, as a reader says it; empty without number and folder.
 * @example messageLabel(3, 'INBOX', 'fr') // 'Message 3, Boîte de réception'
 * @example messageLabel(3, undefined, 'es') // 'Mensaje 3'
 */
export function messageLabel(messageNumber: number | undefined, folder: string | undefined, locale: string): string {
  const parts = [messageNumber !== undefined ? `${MESSAGE[wordsFor(locale)]} ${messageNumber}` : '', folder ? folderName(folder, locale) : ''];
  return parts.filter(Boolean).join(', ');
}
