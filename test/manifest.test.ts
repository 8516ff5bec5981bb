import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';

const root = path.join(__dirname, '..');
const readJson = (rel: string) => JSON.parse(fs.readFileSync(path.join(root, rel), 'utf8'));

function schemaFiles(dir = path.join(root, 'schemas')): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = path.join(dir, d.name);
    return d.isDirectory() ? schemaFiles(p) : d.name.endsWith('.json') ? [p] : [];
  });
}

interface Finding {
  file: string;
  at: string;
  what: string;
}

/**
 * Walks a schema: every property (and every items/additionalProperties sub-schema that is a
 * property's value) needs a description; every object schema with properties is closed.
 */
function lint(file: string, node: unknown, at: string, out: Finding[]): void {
  if (!node || typeof node !== 'object' || Array.isArray(node)) return;
  const s = node as Record<string, unknown>;
  const isObject = s.type === 'object' || s.properties !== undefined;
  if (isObject && s.additionalProperties !== false) {
    // A map (tenants, events, templates) constrains its values through additionalProperties: a schema.
    const isMap = s.properties === undefined && typeof s.additionalProperties === 'object' && s.additionalProperties !== null;
    if (!isMap) out.push({ file, at, what: 'object schema without additionalProperties:false' });
  }
  if (s.properties && typeof s.properties === 'object') {
    for (const [name, prop] of Object.entries(s.properties as Record<string, Record<string, unknown>>)) {
      const ok = typeof prop.description === 'string' && prop.description.trim().length > 0;
      // A $ref property borrows the description of the definition it points to; check that one.
      if (!ok && typeof prop.$ref !== 'string') out.push({ file, at: `${at}/properties/${name}`, what: 'property without description' });
    }
  }
  for (const [k, v] of Object.entries(s)) {
    if (k === 'enum' || k === 'const' || k === 'default' || k === 'examples') continue;
    if (Array.isArray(v)) v.forEach((x, i) => lint(file, x, `${at}/${k}/${i}`, out));
    else lint(file, v, `${at}/${k}`, out);
  }
}

/** Resolves a local or cross-file $ref to the schema it names. */
function deref(ref: string, fromFile: string): Record<string, unknown> {
  const [file, pointer] = ref.split('#');
  const target = file ? path.join(path.dirname(fromFile), file) : fromFile;
  let node: any = JSON.parse(fs.readFileSync(target, 'utf8'));
  for (const part of (pointer ?? '').split('/').filter(Boolean)) node = node[part];
  return node;
}

describe('manifest and schemas', () => {
  it('plugin.json validates against schemas/plugin.schema.json', () => {
    const ajv = new Ajv({ allErrors: true, strict: true });
    addFormats(ajv);
    const validate = ajv.compile(readJson('schemas/plugin.schema.json'));
    const manifest = readJson('plugin.json');
    expect(validate(manifest), JSON.stringify(validate.errors)).to.equal(true);
    expect(manifest.$schema).to.equal('./schemas/plugin.schema.json');
    expect(manifest.events).to.include.members(['voicemail.received', 'fax.received', 'call.missed']);
    expect(manifest.main).to.match(/\.js$/);
    expect(fs.existsSync(path.join(root, manifest.configSchema))).to.equal(true);
  });

  it('the plugin schema refuses a manifest with an unknown field or a .ts main', () => {
    const ajv = new Ajv({ allErrors: true, strict: true });
    const validate = ajv.compile(readJson('schemas/plugin.schema.json'));
    expect(validate({ ...readJson('plugin.json'), surprise: 1 })).to.equal(false);
    expect(validate({ ...readJson('plugin.json'), main: 'src/index.ts' })).to.equal(false);
  });

  it('every property of every schema has a description and every object schema is closed', () => {
    const files = schemaFiles();
    expect(files.length).to.be.greaterThan(4);
    const findings: Finding[] = [];
    for (const f of files) {
      const schema = JSON.parse(fs.readFileSync(f, 'utf8'));
      lint(path.relative(root, f), schema, '#', findings);
      // $ref'd properties: the definition they point to must carry a description.
      const walk = (n: unknown, at: string): void => {
        if (!n || typeof n !== 'object') return;
        const o = n as Record<string, unknown>;
        if (o.properties) {
          for (const [name, p] of Object.entries(o.properties as Record<string, Record<string, unknown>>)) {
            if (typeof p.$ref === 'string' && typeof p.description !== 'string' && typeof deref(p.$ref, f).description !== 'string') {
              findings.push({ file: path.relative(root, f), at: `${at}/properties/${name}`, what: `$ref ${p.$ref} without description` });
            }
          }
        }
        for (const [k, v] of Object.entries(o)) if (v && typeof v === 'object') walk(v, `${at}/${k}`);
      };
      walk(schema, '#');
    }
    expect(findings).to.deep.equal([]);
  });

  it('the lint itself catches a missing description and an open object (it can fail)', () => {
    const findings: Finding[] = [];
    lint('x', { type: 'object', properties: { a: { type: 'string' }, b: { type: 'object', additionalProperties: false, description: 'b' } } }, '#', findings);
    expect(findings.map((f) => f.what).sort()).to.deep.equal(['object schema without additionalProperties:false', 'property without description']);
  });

  it('the generated types are current (scripts/gen-types.js --check exits 0)', async function () {
    this.timeout(60_000);
    const code = await new Promise<number>((resolve) => {
      execFile(process.execPath, [path.join(root, 'scripts/gen-types.js'), '--check'], { cwd: root }, (err) => {
        resolve(err ? ((err as { code?: number }).code ?? 1) : 0);
      });
    });
    expect(code).to.equal(0);
  });
});
