import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PluginError } from '../errors';

/** Where the HTTP intake's bearer token came from. */
export interface HttpToken {
  readonly token: string;
  readonly source: 'file' | 'env' | 'generated' | 'given';
  /** The file holding it, for `file` and `generated`. */
  readonly path?: string;
}

/** The file name under the data directory that holds a generated token. */
export const TOKEN_FILE_NAME = 'http-token';

/** The environment variable read when no --token-file is given. */
export const TOKEN_ENV = 'PBX_NOTIFY_TOKEN';

const MIN_LENGTH = 16;

/**
 * The token, from `--token-file FILE`, else the environment variable `PBX_NOTIFY_TOKEN`, else a
 * random one kept in `<dataDir>/http-token` (mode 0600; reused when it exists, so restarts keep
 * working clients working).
 */
export function resolveHttpToken(o: { tokenFile?: string; env?: NodeJS.ProcessEnv; dataDir: string }): HttpToken {
  return givenHttpToken(o) ?? generatedToken(o.dataDir);
}

/** The token from `--token-file FILE` or `PBX_NOTIFY_TOKEN`, when the operator gave one. */
export function givenHttpToken(o: { tokenFile?: string; env?: NodeJS.ProcessEnv }): HttpToken | undefined {
  if (o.tokenFile !== undefined) return { token: readToken(o.tokenFile, '--token-file'), source: 'file', path: path.resolve(o.tokenFile) };
  const env = o.env?.[TOKEN_ENV];
  if (env !== undefined && env !== '') return { token: checked(env.trim(), TOKEN_ENV), source: 'env' };
  return undefined;
}

/** Reads `<dataDir>/http-token`, creating it (0600, 256 random bits) when absent. */
export function generatedToken(dataDir: string): HttpToken {
  const file = path.join(dataDir, TOKEN_FILE_NAME);
  fs.mkdirSync(dataDir, { recursive: true });
  try {
    fs.writeFileSync(file, crypto.randomBytes(32).toString('base64url') + '\n', { mode: 0o600, flag: 'wx' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    // Someone widened it: the token is a password, keep it private.
    if ((fs.statSync(file).mode & 0o077) !== 0) fs.chmodSync(file, 0o600);
  }
  return { token: readToken(file, TOKEN_FILE_NAME), source: 'generated', path: file };
}

function readToken(file: string, field: string): string {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new PluginError('CONFIG_INVALID', `${field}: cannot read the token file ${file}: ${(e as Error).message}`, { field, cause: e });
  }
  return checked(text.trim(), field);
}

/** The token itself, or CONFIG_INVALID naming `field` when it is too short or not printable ASCII without spaces. */
export function checked(token: string, field: string): string {
  if (token.length < MIN_LENGTH || /[^\x21-\x7e]/.test(token)) {
    throw new PluginError('CONFIG_INVALID', `${field}: expected a token of at least ${MIN_LENGTH} printable ASCII characters without spaces, got ${token.length} characters`, { field });
  }
  return token;
}

/** Compares a presented token with the expected one in constant time (over their SHA-256 hashes, so lengths leak nothing either). */
export function tokenMatches(expected: string, presented: string): boolean {
  const a = crypto.createHash('sha256').update(expected).digest();
  const b = crypto.createHash('sha256').update(presented).digest();
  return crypto.timingSafeEqual(a, b);
}
