import * as crypto from 'node:crypto';
import forge from 'node-forge';

export interface CertOptions {
  /** DNS names and IP addresses the certificate is for. */
  hosts?: string[];
  notBefore?: Date;
  notAfter?: Date;
  /** Self-signed instead of signed by the CA. */
  selfSigned?: boolean;
}

export interface IssuedCert {
  key: string;
  cert: string;
}

/**
 * A throwaway certificate authority made at run time, for the demo's capture servers and the
 * tests' real TLS: nothing is committed, nothing is trusted outside the process that made it.
 */
export class TestCa {
  readonly cert: string;
  readonly #key: forge.pki.rsa.PrivateKey;
  readonly #caCert: forge.pki.Certificate;

  constructor(name = 'pbx-email-notify test CA') {
    const keys = rsaKeys();
    const c = forge.pki.createCertificate();
    c.publicKey = keys.publicKey;
    c.serialNumber = serial();
    c.validity.notBefore = new Date(Date.now() - 86_400_000);
    c.validity.notAfter = new Date(Date.now() + 365 * 86_400_000);
    const attrs = [{ name: 'commonName', value: name }];
    c.setSubject(attrs);
    c.setIssuer(attrs);
    c.setExtensions([
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
      { name: 'subjectKeyIdentifier' },
    ]);
    c.sign(keys.privateKey, forge.md.sha256.create());
    this.#key = keys.privateKey;
    this.#caCert = c;
    this.cert = forge.pki.certificateToPem(c);
  }

  issue(opts: CertOptions = {}): IssuedCert {
    const hosts = opts.hosts ?? ['localhost', '127.0.0.1'];
    const keys = rsaKeys();
    const c = forge.pki.createCertificate();
    c.publicKey = keys.publicKey;
    c.serialNumber = serial();
    c.validity.notBefore = opts.notBefore ?? new Date(Date.now() - 3_600_000);
    c.validity.notAfter = opts.notAfter ?? new Date(Date.now() + 30 * 86_400_000);
    c.setSubject([{ name: 'commonName', value: hosts[0]! }]);
    c.setIssuer(opts.selfSigned ? c.subject.attributes : this.#caCert.subject.attributes);
    c.setExtensions([
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: hosts.map((h) => (/^[\d.]+$|:/.test(h) ? { type: 7, ip: h } : { type: 2, value: h })) },
    ]);
    c.sign(opts.selfSigned ? keys.privateKey : this.#key, forge.md.sha256.create());
    return { key: forge.pki.privateKeyToPem(keys.privateKey), cert: forge.pki.certificateToPem(c) };
  }
}

/** RSA keys made by Node's native crypto (fast), handed to forge for signing. */
function rsaKeys(): { privateKey: forge.pki.rsa.PrivateKey; publicKey: forge.pki.rsa.PublicKey } {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    privateKey: forge.pki.privateKeyFromPem(privateKey.export({ type: 'pkcs1', format: 'pem' }) as string) as forge.pki.rsa.PrivateKey,
    publicKey: forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }) as string) as forge.pki.rsa.PublicKey,
  };
}

function serial(): string {
  return '01' + forge.util.bytesToHex(forge.random.getBytesSync(15));
}
