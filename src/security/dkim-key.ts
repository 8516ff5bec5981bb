import * as crypto from 'node:crypto';

/** The DKIM algorithms a key can sign with: RFC 6376 rsa-sha256 and RFC 8463 ed25519-sha256. */
export type DkimAlgorithm = 'rsa-sha256' | 'ed25519-sha256';

/**
 * The algorithm a PEM private key signs DKIM with, or why it cannot sign: not a PEM private key
 * (an encrypted one included), a key type DKIM has no algorithm for (EC P-256, DSA), or an RSA key
 * shorter than the 1024 bits RFC 8301 requires. The key itself never appears in the answer.
 */
export function dkimKeyAlgorithm(pem: string): { algorithm: DkimAlgorithm } | { problem: string } {
  let key: crypto.KeyObject;
  try {
    key = crypto.createPrivateKey({ key: pem, format: 'pem' });
  } catch {
    return { problem: 'must be an unencrypted PEM private key (RSA or Ed25519)' };
  }
  const type = key.asymmetricKeyType;
  if (type === 'rsa') {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < 1024) return { problem: `is a ${bits}-bit RSA key; DKIM needs at least 1024 bits (2048 recommended)` };
  } else if (type !== 'ed25519') {
    return { problem: `is a${type === 'ec' ? 'n' : ''} ${type ?? 'unknown'} key; DKIM signs with RSA (rsa-sha256) or Ed25519 (ed25519-sha256) keys only` };
  }
  try {
    crypto.sign(type === 'rsa' ? 'sha256' : null, Buffer.from('dkim key check'), key);
  } catch {
    return { problem: 'cannot sign (the key is damaged or unusable)' };
  }
  return { algorithm: type === 'rsa' ? 'rsa-sha256' : 'ed25519-sha256' };
}
