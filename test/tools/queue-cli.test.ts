import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ReferenceHost } from '../../src/host/reference-host';
import { tenantConfig } from '../helpers/events';
import { queueCli } from '../helpers/queue-cli';
import { testCa } from '../helpers/smtp';

const root = path.join(__dirname, '../..');
const TOKEN = 'queue-cli-token-0123456789ab';
const quiet = { debug() {}, info() {}, warn() {}, error() {} };

describe('tools: the queue CLI refuses bad usage with codes', function () {
  this.timeout(60_000);

  it('usage errors exit 2 with CLI_USAGE naming what is wrong (as JSON with --json)', async () => {
    const cases: [string[], RegExp][] = [
      [[], /^CLI_USAGE: no command given/],
      [['frobnicate'], /^CLI_USAGE: unknown command "frobnicate"/],
      [['retry', 'a.example.com'], /^CLI_USAGE: retry takes tenant and event id, got "a.example.com"/],
      [['list', '--colour', 'red'], /^CLI_USAGE: list takes no --colour/],
      [['list', '--limit', 'ten'], /^CLI_USAGE: --limit: expected a whole number/],
      [['retry', 'a.example.com', 'x', '--data', '/nowhere'], /^CLI_USAGE: retry changes the queue: it needs the running host/],
      [['list', '--url', 'http://127.0.0.1:1', '--data', '/nowhere'], /^CLI_USAGE: --url and --data exclude each other/],
      [['retry-failed', 'a.example.com'], /^CLI_USAGE: retry-failed needs --since/],
      [['test', 'a.example.com'], /^CLI_USAGE: test needs --to/],
      [['list', '--url', 'ftp://x'], /^CLI_USAGE: --url: expected an http:\/\/ or https:\/\/ URL/],
    ];
    for (const [args, message] of cases) {
      const r = await queueCli(args);
      expect([r.code, r.stdout], args.join(' ')).to.deep.equal([2, '']);
      expect(r.stderr, args.join(' ')).to.match(message);
    }
    const j = await queueCli(['list', '--colour', 'red', '--json']);
    expect(j.code).to.equal(2);
    expect(JSON.parse(j.stderr)).to.deep.equal({ code: 'CLI_USAGE', message: 'list takes no --colour (it takes --tenant, --state, --limit, --before)', field: '--colour' });
    const help = await queueCli(['--help'], {}, { launcher: 'script' });
    expect([help.code, help.stdout.startsWith('usage: npm run queue -- COMMAND')]).to.deep.equal([0, true]);
  });

  it('nothing listening at --url: exit 1, HOST_UNREACHABLE', async () => {
    const r = await queueCli(['list', '--url', 'http://127.0.0.1:1', '--json']);
    expect(r.code).to.equal(1);
    expect(JSON.parse(r.stderr).code).to.equal('HOST_UNREACHABLE');
  });

  it('a running host: the token from $PBX_NOTIFY_TOKEN or --token-file; none or a wrong one is HTTP_UNAUTHORIZED, exit 1', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pbx-cli-auth-'));
    const host = await ReferenceHost.start({ pluginDir: root, config: tenantConfig(testCa().cert, { 'a.example.com': { port: 1 } }), dataDir, httpPort: 0, httpToken: TOKEN, log: quiet });
    try {
      const url = `http://127.0.0.1:${host.httpPort}`;
      const none = await queueCli(['status', '--url', url]);
      expect([none.code, none.stderr.split(':')[0]]).to.deep.equal([1, 'HTTP_UNAUTHORIZED']);
      expect(none.stderr).to.contain('--token-file');
      const wrong = await queueCli(['status', '--url', url, '--json'], { PBX_NOTIFY_TOKEN: 'not-the-token-0123456789' });
      expect([wrong.code, JSON.parse(wrong.stderr).code]).to.deep.equal([1, 'HTTP_UNAUTHORIZED']);
      const env = await queueCli(['status', '--url', url, '--json'], { PBX_NOTIFY_TOKEN: TOKEN });
      expect([env.code, env.stderr]).to.deep.equal([0, '']);
      expect(env.json.tenants.map((t: { tenant: string }) => t.tenant)).to.include('a.example.com');
      const file = path.join(dataDir, 'operator-token');
      fs.writeFileSync(file, `${TOKEN}\n`, { mode: 0o600 });
      const viaFile = await queueCli(['status', '--url', url, '--token-file', file], { PBX_NOTIFY_TOKEN: 'env-loses-to-the-file-0123' });
      expect([viaFile.code, viaFile.stdout.split('\n')[0]!.split(/\s+/).slice(0, 2)]).to.deep.equal([0, ['TENANT', 'HELD']]);
    } finally {
      await host.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
