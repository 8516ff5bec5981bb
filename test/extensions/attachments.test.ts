import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import type { PluginError } from '../../src';
import { eid, tenantConfig } from '../helpers/events';
import { Harness } from '../helpers/harness';
import { testCa, type TestSmtp } from '../helpers/smtp';
import { waitFor } from '../helpers/wait';

const T = 'a.example.com';

/** A kind with two file fields: its files are spooled and attached like a recording. */
const EXTENSION = `
exports.register = (api) => api.defineEvent('x.report', {
  schema: { type: 'object', additionalProperties: false, required: ['recipient', 'file'], properties: { recipient: api.shapes.Recipient, file: api.shapes.FileRef, extra: api.shapes.FileRef } },
  attachments: [{ field: 'file', role: 'report' }, { field: 'extra', role: 'extra', name: 'appendix' }],
  templates: { subject: 'Report', text: '{{#if attachment.included}}attached: {{attachment.filename}}{{/if}}', html: '<p>report</p>' },
});`;

const pdf = () => Buffer.from('%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n' + crypto.randomBytes(512).toString('base64'));

describe('extensions: a kind with file fields is spooled and attached like a built-in one', function () {
  this.timeout(30_000);
  const h = new Harness();
  let server: TestSmtp;
  let root: string;

  before(async () => {
    const dir = h.tmpdir('pbx-ext-att-');
    fs.writeFileSync(path.join(dir, 'report.js'), EXTENSION);
    root = h.tmpdir('pbx-ext-files-');
    server = await h.smtp();
    await h.start(tenantConfig(testCa().cert, { [T]: { port: server.port } }, { attachmentRoots: [root], extensions: [path.join(dir, 'report.js')] }));
  });
  after(() => h.dispose());

  const report = (data: Record<string, unknown>) => ({ id: eid('rep'), type: 'x.report', tenant: T, occurredAt: '2026-11-28T12:00:00Z', data: { recipient: { extension: '1', email: [`ops@${T}`] }, ...data } });

  it('copies both files into the spool at intake and attaches them with the names the kind gives their roles', async () => {
    const a = path.join(root, 'q3.pdf');
    const b = path.join(root, 'q3-appendix.pdf');
    const bytes = [pdf(), pdf()];
    fs.writeFileSync(a, bytes[0]!);
    fs.writeFileSync(b, bytes[1]!);
    const e = report({ file: { path: a, contentType: 'application/pdf', filename: 'x\r\n.pdf' }, extra: { path: b, contentType: 'application/pdf' } });
    await h.host.send(e);
    fs.unlinkSync(a);
    fs.unlinkSync(b);
    const [m] = await server.waitFor(1);
    expect(m!.parsed.attachments.map((x) => [x.filename, x.contentType, x.content.equals(bytes[m!.parsed.attachments.indexOf(x)]!)])).to.deep.equal([
      ['report-20261128-120000.pdf', 'application/pdf', true],
      ['appendix-20261128-120000.pdf', 'application/pdf', true],
    ]);
    expect(m!.parsed.text).to.contain('attached: report-20261128-120000.pdf');
    // Delivered: the spooled copies go.
    await waitFor(() => fs.readdirSync(path.join(h.host.dataDir, 'files')).length === 0, { what: 'the delivered report’s spool copies removed' });
  });

  it('refuses a file outside attachmentRoots (ATTACHMENT_FORBIDDEN) and a missing one inside (ATTACHMENT_NOT_FOUND), naming the field', async () => {
    const before = (await h.plugin.status()).counts;
    const refused = async (e: Record<string, unknown>) => h.host.send(e).then(() => { throw new Error('accepted'); }, (err: PluginError) => [err.code, err.field]);
    expect(await refused(report({ file: { path: '/etc/passwd', contentType: 'application/pdf' } }))).to.deep.equal(['ATTACHMENT_FORBIDDEN', '/data/file/path']);
    expect(await refused(report({ file: { path: path.join(root, 'q3.pdf'), contentType: 'application/pdf' }, extra: { path: path.join(root, 'nope.pdf'), contentType: 'application/pdf' } }))).to.deep.equal(['ATTACHMENT_NOT_FOUND', '/data/file/path']);
    fs.writeFileSync(path.join(root, 'here.pdf'), pdf());
    expect(await refused(report({ file: { path: path.join(root, 'here.pdf'), contentType: 'application/pdf' }, extra: { path: path.join(root, 'nope.pdf'), contentType: 'application/pdf' } }))).to.deep.equal(['ATTACHMENT_NOT_FOUND', '/data/extra/path']);
    expect((await h.plugin.status()).counts).to.deep.equal(before);
    // The copy of the first file staged before the second was refused is gone again.
    expect(fs.readdirSync(path.join(h.host.dataDir, 'files'))).to.deep.equal([]);
  });
});
