import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { resolveConfig, SchemaRegistry } from '../src/config';

const root = path.join(__dirname, '..');

describe('generated documentation', () => {
  it("README's configuration reference matches schemas/config.schema.json", () => {
    const r = spawnSync(process.execPath, [path.join(root, 'scripts/gen-config-doc.js'), '--check'], { encoding: 'utf8' });
    expect(r.status, r.stderr).to.equal(0);
  });
});

describe('examples', () => {
  it('examples/config.example.json is a valid configuration', () => {
    const config = JSON.parse(fs.readFileSync(path.join(root, 'examples/config.example.json'), 'utf8'));
    const resolved = resolveConfig(config, new SchemaRegistry());
    expect(resolved.tenants['acme.example.com']!.smtp!.security).to.equal('starttls');
  });
});
