import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The rules Debian's `spamassassin` package ships: used as they are, never the ones sa-update may have fetched. */
export const SHIPPED_RULES = '/usr/share/spamassassin';

/**
 * The plugins Debian's /etc/spamassassin/*.pre load that run without the network, named here so a
 * machine's own site config (local.cf, edited .pre files) changes nothing.
 */
const LOCAL_PLUGINS = [
  'Check', 'HTTPSMismatch', 'URIDetail', 'BodyEval', 'HTMLEval', 'HeaderEval', 'MIMEEval', 'MIMEHeader', 'RelayEval', 'URIEval',
  'WLBLEval', 'VBounce', 'ImageInfo', 'FreeMail', 'ReplaceTags', 'WelcomeListSubject', 'DKIM',
];

/** One mail's result: its score and the rules it hit (`NAME=score`), as SpamAssassin reports them. */
export interface SpamResult {
  score: number;
  rules: string[];
}

/** The `spamassassin` program, if it is installed. */
export function spamAssassinInstalled(): boolean {
  try {
    execFileSync('spamassassin', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Scores each raw RFC 5322 message with `spamassassin -L -t` (local tests only, no network, no
 * Bayes, no auto-welcomelist), on the shipped rules and a site config and prefs of its own in
 * `dir`. The mails are split between `jobs` processes, each checking its share in one run (its
 * rule set is compiled once, which is most of the time).
 */
export async function spamScores(raws: Buffer[], dir: string, jobs = 2): Promise<SpamResult[]> {
  const site = path.join(dir, 'site');
  fs.mkdirSync(site, { recursive: true });
  fs.writeFileSync(path.join(site, 'init.pre'), LOCAL_PLUGINS.map((p) => `loadplugin Mail::SpamAssassin::Plugin::${p}\n`).join(''));
  const prefs = path.join(dir, 'user_prefs');
  // The report is one header a message, in the order given: what this parses.
  fs.writeFileSync(prefs, 'use_bayes 0\nuse_auto_whitelist 0\nclear_headers\nadd_header all Result _SCORE_ _TESTSSCORES(,)_\n');
  const files = raws.map((raw, i) => {
    const file = path.join(dir, `${String(i).padStart(3, '0')}.eml`);
    fs.writeFileSync(file, raw);
    return file;
  });
  const shares = Array.from({ length: Math.min(jobs, files.length) }, (_, j) => files.filter((_f, i) => i % jobs === j));
  const outs = await Promise.all(shares.map((share) => run(['-L', '-t', '-x', '--configpath', SHIPPED_RULES, '--siteconfigpath', site, '-p', prefs, ...share])));
  const results: SpamResult[] = [];
  outs.forEach((out, j) => {
    const found = [...out.matchAll(/^X-Spam-Result: (-?[\d.]+) ?(.*(?:\r?\n[ \t].*)*)/gm)].map((m) => ({ score: Number(m[1]), rules: m[2]!.replace(/\s+/g, '').split(',').filter(Boolean) }));
    if (found.length !== shares[j]!.length) throw new Error(`spamassassin reported ${found.length} results for ${shares[j]!.length} mails:\n${out.slice(0, 4000)}`);
    found.forEach((r, k) => (results[k * jobs + j] = r));
  });
  return results;
}

function run(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('spamassassin', args, { maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      // -t exits 0 (ham) or 1 (spam): either way the report is on stdout.
      if (err && typeof err.code !== 'number') return reject(err);
      if (err && err.code !== 1) return reject(new Error(`spamassassin exited ${err.code}: ${stderr}`));
      resolve(stdout);
    });
  });
}
