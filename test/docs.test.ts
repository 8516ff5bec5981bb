import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

const root = path.join(__dirname, '..');

describe('generated documentation', () => {
  it("README's configuration reference matches schemas/config.schema.json", () => {
    const r = spawnSync(process.execPath, [path.join(root, 'scripts/gen-config-doc.js'), '--check'], { encoding: 'utf8' });
    expect(r.status, r.stderr).to.equal(0);
  });
});
