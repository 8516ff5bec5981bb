/**
 * The names of the top-level header fields of a raw message, lowercased, in order (continuation
 * lines folded in). The header block ends at the first empty line.
 */
export function headerNames(raw: Buffer): string[] {
  const head = raw.toString('latin1').split('\r\n\r\n')[0]!;
  return head
    .split('\r\n')
    .filter((l) => !/^[ \t]/.test(l))
    .map((l) => l.slice(0, l.indexOf(':')).toLowerCase());
}
