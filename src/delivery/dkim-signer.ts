import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { PluginError } from '../errors';
import { dkimKeyAlgorithm } from '../security/dkim-key';

/** A tenant's DKIM key and where its public half is published (`<keySelector>._domainkey.<domainName>`). */
export interface DkimKey {
  domainName: string;
  keySelector: string;
  privateKey: string;
}

/**
 * The header fields a signature covers, where the message has them. `From` is also oversigned
 * (named once more than it occurs), so a From added on the way invalidates the signature.
 */
export const SIGNED_HEADERS = [
  'From',
  'Reply-To',
  'Subject',
  'Date',
  'To',
  'Cc',
  'Message-ID',
  'MIME-Version',
  'Content-Type',
  'Content-Transfer-Encoding',
  'Content-Language',
  'Auto-Submitted',
] as const;

/** Up to this much of a message is kept in memory while it is signed; the rest goes to a temp file. */
const IN_MEMORY_BYTES = 1024 * 1024;

interface SignerOptions {
  signatureData: { signingDomain: string; selector: string; privateKey: string; algorithm: string; canonicalization: string }[];
  headerList: string;
}
interface ParsedHeader {
  key: string;
  casedKey: string;
}
interface MailauthSigner extends Writable {
  signatureHeaders: string[];
  errors: { err?: Error }[];
  messageHeaders(headers: { parsed: ParsedHeader[] }): Promise<void>;
}
// mailauth's streaming signer (the one dkimSign uses); it ships no type declarations of its own.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { DkimSigner } = require('mailauth/lib/dkim/dkim-signer') as { DkimSigner: new (o: SignerOptions) => MailauthSigner };

/**
 * mailauth's signer names in h= each listed field that the message has, once per occurrence.
 * Oversigning `From` adds one more name: the verifier then finds no header for it (the null
 * string of RFC 6376 5.4.2), until someone adds a From, which breaks the signature.
 */
function oversigning(options: SignerOptions): MailauthSigner {
  const signer = new DkimSigner(options);
  const parse = signer.messageHeaders.bind(signer);
  signer.messageHeaders = async (headers) => {
    const froms = headers.parsed.filter((h) => h.key === 'from');
    // Parsed headers are walked bottom up when h= is built: the topmost From is named last.
    if (froms[0]) froms[0].casedKey = `${froms[0].casedKey}:From`;
    return parse(headers);
  };
  return signer;
}

/** A signed message: its DKIM-Signature header first, then the message as composed, readable once per send. */
export interface SignedMessage {
  readonly signature: string;
  stream(): Readable;
  /** Removes the temp file, if the message needed one. */
  dispose(): Promise<void>;
}

/**
 * Signs a composed message (rsa-sha256 or ed25519-sha256 by the key's type, relaxed/relaxed) while
 * reading it once: the first MB stays in memory, the rest is spilled to a 0600 file in `tempDir`
 * and streamed from there when sent. Rejects with DKIM_FAILED when no signature could be made:
 * the caller must then not send the message at all. A failure to read the message (an attachment
 * gone) rejects with the stream's error as nodemailer reports it (`ESTREAM`).
 */
export async function signMessage(message: Readable, key: DkimKey, tempDir?: string): Promise<SignedMessage> {
  const kind = dkimKeyAlgorithm(key.privateKey);
  if ('problem' in kind) throw new PluginError('DKIM_FAILED', `DKIM_FAILED: the DKIM key of ${key.domainName} ${kind.problem}`);
  const signer = oversigning({
    signatureData: [{ signingDomain: key.domainName, selector: key.keySelector, privateKey: key.privateKey, algorithm: kind.algorithm, canonicalization: 'relaxed/relaxed' }],
    headerList: SIGNED_HEADERS.join(':'),
  });
  const store = new Spill(signer, tempDir);
  try {
    await pipeline(message, store);
  } catch (e) {
    await store.dispose();
    const err = e as NodeJS.ErrnoException & { code?: string };
    if (err instanceof PluginError) throw err;
    if (store.signerFailed) throw new PluginError('DKIM_FAILED', `DKIM_FAILED: signing failed (${oneLine(err.message)})`, { cause: e });
    if (store.spillFailed) throw new PluginError('DKIM_FAILED', `DKIM_FAILED: could not write the message to ${tempDir} while signing (${err.code ?? err.message})`, { cause: e });
    throw Object.assign(new Error(`message stream failed: ${oneLine(err.message)}`), { code: 'ESTREAM', originalCode: err.code, command: 'API' });
  }
  const failure = signer.errors.find((x) => x.err)?.err;
  const signature = signer.signatureHeaders.join('\r\n');
  if (failure || !/^DKIM-Signature: /.test(signature)) {
    await store.dispose();
    throw new PluginError('DKIM_FAILED', `DKIM_FAILED: no signature was made${failure ? ` (${oneLine(failure.message)})` : ''}`, failure ? { cause: failure } : {});
  }
  const head = Buffer.from(`${signature}\r\n`, 'latin1');
  return {
    signature,
    stream: () => Readable.from(concat(head, store)),
    dispose: () => store.dispose(),
  };
}

async function* concat(head: Buffer, store: Spill): AsyncGenerator<Buffer> {
  yield head;
  for (const c of store.chunks) yield c;
  if (store.file) yield* fs.createReadStream(store.file) as AsyncIterable<Buffer>;
}

/** Feeds the signer and keeps the message: in memory up to IN_MEMORY_BYTES, then in a temp file. */
class Spill extends Writable {
  readonly chunks: Buffer[] = [];
  file: string | undefined;
  signerFailed = false;
  spillFailed = false;
  readonly #signer: MailauthSigner;
  readonly #dir: string | undefined;
  #size = 0;
  #out: fs.WriteStream | undefined;

  constructor(signer: MailauthSigner, dir: string | undefined) {
    super();
    this.#signer = signer;
    this.#dir = dir;
    signer.on('error', (e: Error) => {
      this.signerFailed = true;
      this.destroy(e);
    });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.#signer.write(chunk);
    // Asked when the file side is ready: the signer may have drained meanwhile.
    const next = (): void => {
      if (this.#signer.writableNeedDrain) this.#signer.once('drain', () => cb());
      else cb();
    };
    this.#size += chunk.length;
    if (!this.#out && this.#dir !== undefined && this.#size > IN_MEMORY_BYTES) {
      this.file = path.join(this.#dir, `dkim-${crypto.randomUUID()}.eml`);
      this.#out = fs.createWriteStream(this.file, { flags: 'wx', mode: 0o600 });
      this.#out.on('error', (e) => {
        this.spillFailed = true;
        this.destroy(e);
      });
      for (const c of this.chunks.splice(0)) this.#out.write(c);
    }
    if (!this.#out) {
      this.chunks.push(chunk);
      next();
      return;
    }
    if (this.#out.write(chunk)) next();
    else this.#out.once('drain', next);
  }

  override _final(cb: (e?: Error | null) => void): void {
    this.#signer.once('finish', () => {
      if (this.#out) this.#out.end(() => cb());
      else cb();
    });
    this.#signer.end();
  }

  async dispose(): Promise<void> {
    this.chunks.length = 0;
    this.#out?.destroy();
    if (this.file) await fs.promises.rm(this.file, { force: true });
  }
}

const oneLine = (s: string) => s.replace(/[\r\n]+/g, ' ').slice(0, 200);
