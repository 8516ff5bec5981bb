import { spawn } from 'node:child_process';

// dkimpy (Debian python3-dkim, Ed25519 through python3-nacl): a verifier this project did not write
// and does not sign with. The DNS lookup is answered from the test's own record, nothing else.
const SCRIPT = `
import sys, dkim
name, txt = sys.argv[1].encode(), sys.argv[2].encode()
def dnsfunc(q, timeout=5):
    q = q if isinstance(q, bytes) else q.encode()
    return txt if q.rstrip(b'.').lower() == name.lower() else None
msg = sys.stdin.buffer.read()
print('pass' if dkim.verify(msg, dnsfunc=dnsfunc) else 'fail')
`;

/** The DNS TXT record of a DKIM public key: `v=DKIM1; k=rsa|ed25519; p=…`, published at `<selector>._domainkey.<domain>`. */
export interface DkimRecord {
  name: string;
  txt: string;
}

/** Verifies the first DKIM signature of `raw` with dkimpy; resolves 'pass' or 'fail'. */
export function dkimpyVerify(raw: Buffer, record: DkimRecord): Promise<'pass' | 'fail'> {
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/python3', ['-c', SCRIPT, record.name, record.txt], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const r = out.trim();
      if (code === 0 && (r === 'pass' || r === 'fail')) resolve(r);
      else reject(new Error(`dkimpy exited ${code}: ${err.trim() || out.trim()}`));
    });
    child.stdin.end(raw);
  });
}
