import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import { activate } from '../../src';
import { toneWav } from '../../src/host/demo/samples';
import { FakeHost } from '../helpers/fake-host';
import { tenantConfig, voicemail } from '../helpers/events';
import { refusedPort } from '../helpers/fault-servers';
import { Harness } from '../helpers/harness';
import { testCa } from '../helpers/smtp';

const T = 'a.example.com';
const mode = (p: string) => (fs.existsSync(p) ? (fs.statSync(p).mode & 0o777).toString(8) : 'missing');

// SQLite only: the file modes of spool.db and its copies under <dataDir>; a PostgreSQL spool keeps both in the database.
describe('spool: private data stays private (dataDir 0700, spool files 0600), whatever the umask', () => {
  const h = new Harness();
  afterEach(() => h.dispose());

  it('with umask 0: a dataDir the plugin creates is 0700; spool.db, its WAL and shm, the lock and a spooled recording are 0600', async () => {
    const root = h.tmpdir('pbx-modes-root-');
    fs.writeFileSync(path.join(root, 'vm.wav'), toneWav(1));
    const dataDir = path.join(h.tmpdir('pbx-modes-'), 'new', 'data');
    const host = new FakeHost(tenantConfig(testCa().cert, { [T]: { port: await refusedPort() } }, { attachmentRoots: [root] }), dataDir);
    const old = process.umask(0);
    try {
      const plugin = await activate(host.context());
      h.defer(() => plugin.deactivate());
      const e = voicemail(T, {}, { recording: { path: path.join(root, 'vm.wav'), contentType: 'audio/wav' } });
      await host.send(e);
      const rec = (await plugin.lookup(e.id, T))!.attachments[0]!.path;
      const seen = Object.fromEntries(
        [dataDir, `${dataDir}/tmp`, `${dataDir}/files`, path.dirname(rec), rec, `${dataDir}/spool.db`, `${dataDir}/spool.db-wal`, `${dataDir}/spool.db-shm`, `${dataDir}/lock`].map((p) => [path.relative(dataDir, p) || '.', mode(p)]),
      );
      expect(seen).to.deep.equal({
        '.': '700',
        tmp: '700',
        files: '700',
        [path.relative(dataDir, path.dirname(rec))]: '700',
        [path.relative(dataDir, rec)]: '600',
        'spool.db': '600',
        'spool.db-wal': '600',
        'spool.db-shm': '600',
        lock: '600',
      });
    } finally {
      process.umask(old);
    }
  });

  it('an existing spool made readable by others (an older version, a restore) is made 0600 at activation; a host-made dataDir that others can read gets a warning', async () => {
    const dataDir = h.tmpdir('pbx-modes-old-');
    fs.chmodSync(dataDir, 0o755);
    const config = tenantConfig(testCa().cert, { [T]: { port: 9 } });
    const first = await activate(new FakeHost(config, dataDir).context());
    await first.deactivate();
    fs.chmodSync(path.join(dataDir, 'spool.db'), 0o644);
    fs.chmodSync(path.join(dataDir, 'files'), 0o755);
    const host = new FakeHost(config, dataDir);
    const plugin = await activate(host.context());
    h.defer(() => plugin.deactivate());
    expect([mode(path.join(dataDir, 'spool.db')), mode(path.join(dataDir, 'files'))]).to.deep.equal(['600', '700']);
    expect(host.logs.filter((l) => l.level === 'warn' && /dataDir is readable by other users/.test(l.msg)).map((l) => l.fields)).to.deep.equal([{ dataDir, mode: '755' }]);
    expect(mode(dataDir)).to.equal('755'); // the host's directory is the host's to change
  });
});
