import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { PNG } from 'pngjs';
import { activate } from '../../src';
import type { EmailNotifyPlugin } from '../../src';
import { PluginError } from '../../src/errors';
import { previewPage } from '../../src/templates';
import { CHROMIUM_ARGS, DEFAULT_CHROMIUM, screenshotHtml } from '../../src/templates/screenshot';
import { FakeHost } from '../helpers/fake-host';
import { missed, tenantConfig } from '../helpers/events';

/** Share of pixels that differ clearly from the most common colour (the background). */
function inkRatio(png: Buffer): { ink: number; width: number; height: number } {
  const img = PNG.sync.read(png);
  const counts = new Map<number, number>();
  const px = (i: number) => (img.data[i]! << 16) | (img.data[i + 1]! << 8) | img.data[i + 2]!;
  for (let i = 0; i < img.data.length; i += 4) counts.set(px(i), (counts.get(px(i)) ?? 0) + 1);
  const bg = [...counts.entries()].sort((x, y) => y[1] - x[1])[0]![0];
  const [br, bgG, bb] = [(bg >> 16) & 255, (bg >> 8) & 255, bg & 255];
  let ink = 0;
  for (let i = 0; i < img.data.length; i += 4) {
    if (Math.abs(img.data[i]! - br) + Math.abs(img.data[i + 1]! - bgG) + Math.abs(img.data[i + 2]! - bb) > 96) ink++;
  }
  return { ink: ink / (img.width * img.height), width: img.width, height: img.height };
}

describe('templates: preview', () => {
  let host: FakeHost;
  let plugin: EmailNotifyPlugin;

  before(async () => {
    const config = tenantConfig('', { 'acme.example.com': { port: 25 } });
    config.tenants['acme.example.com'].brand = { name: 'Acme Telefonie', accentColor: '#b91c1c' };
    config.tenants['acme.example.com'].country = 'DE';
    config.tenants['acme.example.com'].timeZone = 'Europe/Berlin';
    config.tenants['acme.example.com'].templates = { 'call.missed': { subject: 'Gespeichert: {{caller.name}}' } };
    host = new FakeHost(config);
    plugin = await activate(host.context());
  });
  after(async () => {
    await plugin.deactivate();
    host.cleanup();
  });

  it('renders a tenant mail from sample data in the asked language', async () => {
    const r = await plugin.preview({ tenant: 'acme.example.com', eventType: 'voicemail.received', language: 'fr' });
    expect(r.language).to.equal('fr');
    expect(r.subject).to.equal('Nouveau message vocal de Bob Caller (1:23)');
    expect(r.text).to.contain('samedi 28 novembre 2026 à 13:00\u00a0UTC+1');
    expect(r.text).to.contain('030\u00a012345678');
    expect(r.html).to.contain('Acme Telefonie');
    expect(r.problems).to.deep.equal([]);
  });

  it('renders a given event and unsaved sources, reporting their problems instead of hiding them', async () => {
    const event = missed('acme.example.com', {}, { caller: { number: '+4989123456', name: 'Eva' } });
    const saved = await plugin.preview({ tenant: 'acme.example.com', eventType: 'call.missed', event });
    expect(saved.subject).to.equal('Gespeichert: Eva');
    const r = await plugin.preview({ tenant: 'acme.example.com', eventType: 'call.missed', event, sources: { subject: 'Entwurf: {{phone caller.number}}', html: '<p>{{{caller.name}}}</p>' } });
    expect(r.subject).to.equal('Entwurf: 089 123456');
    expect(r.html).to.contain('Missed call');
    expect(r.problems).to.have.length(1);
    expect(r.problems[0]).to.include({ template: 'unsaved/call.missed/html', line: 1, column: 4 });
    // Nothing was sent or stored.
    expect((await plugin.status()).counts.queued).to.equal(0);
  });

  it('refuses a bad request with a coded error', async () => {
    const code = async (f: () => unknown) => {
      try {
        await f();
      } catch (e) {
        expect(e).to.be.instanceOf(PluginError);
        return [(e as PluginError).code, (e as PluginError).field];
      }
      throw new Error('not refused');
    };
    expect(await code(() => plugin.preview({ tenant: 'acme.example.com', eventType: 'sms.received' }))).to.deep.equal(['EVENT_TYPE_UNKNOWN', '/eventType']);
    expect(await code(() => plugin.preview({ tenant: '../etc', eventType: 'call.missed' }))).to.deep.equal(['EVENT_INVALID', '/tenant']);
    expect(await code(() => plugin.preview({ tenant: 'acme.example.com', eventType: 'call.missed', language: 'x y' }))).to.deep.equal(['EVENT_INVALID', '/language']);
    expect((await code(() => plugin.preview({ tenant: 'acme.example.com', eventType: 'call.missed', event: { type: 'call.missed' } })))[0]).to.equal('EVENT_INVALID');
  });

  describe('screenshots in headless Chromium', function () {
    this.timeout(60_000);
    before(function () {
      if (!fs.existsSync(process.env.CHROMIUM_PATH ?? DEFAULT_CHROMIUM)) {
        if (process.env.CI) throw new Error(`Chromium is missing at ${DEFAULT_CHROMIUM}: .ci/run installs it with apt-get install -y chromium`);
        this.skip();
      }
    });

    it('makes a real, non-blank picture of every event type', async () => {
      for (const eventType of ['voicemail.received', 'fax.received', 'call.missed']) {
        const r = await plugin.preview({ tenant: 'acme.example.com', eventType, language: 'de' });
        const png = await screenshotHtml(r.html);
        const { ink, width, height } = inkRatio(png);
        expect(width, eventType).to.be.at.least(600);
        expect(height, eventType).to.be.at.least(300);
        expect(ink, eventType).to.be.greaterThan(0.01);
      }
    });

    it('npm run templates -- preview writes the HTML, the text and a PNG a width asked, as wide as asked (nothing overflows a phone)', () => {
      const out = fs.mkdtempSync(path.join(os.tmpdir(), 'pbx-preview-'));
      try {
        const config = path.join(out, 'config.json');
        fs.writeFileSync(config, JSON.stringify({ tenants: { 'acme.example.com': { from: 'Acme <pbx@acme.example.com>', smtp: { host: 'smtp.invalid' }, country: 'DE' } } }));
        const r = spawnSync(process.execPath, [path.join(__dirname, '../../scripts/templates.js'), 'preview', '--tenant', 'acme.example.com', '--event', 'fax.received', '--lang', 'es', '--out', out, '--config', config, '--width', '375,1200'], { encoding: 'utf8', timeout: 60_000 });
        expect(r.status, r.stdout + r.stderr).to.equal(0);
        const base = path.join(out, 'acme.example.com.fax.received.es');
        expect(fs.readFileSync(`${base}.html`, 'utf8')).to.match(/<html lang="es"[\s>]/);
        expect(fs.readFileSync(`${base}.txt`, 'utf8')).to.match(/^Subject: Nuevo fax de Acme Supplies \(3 páginas\)\nContent-Language: es\n/);
        for (const width of [375, 1200]) {
          const png = fs.readFileSync(`${base}.${width}.png`);
          expect(png.readUInt32BE(16), `${width} px`).to.equal(width); // IHDR width: the page did not scroll sideways
          expect(inkRatio(png).ink).to.be.greaterThan(0.01);
        }
        expect(fs.existsSync(`${base}.png`)).to.equal(false);
      } finally {
        fs.rmSync(out, { recursive: true, force: true });
      }
    });

    it('the preview page shows the rendered mail for the chosen tenant, event and language', async () => {
      const server = http.createServer((req, res) => {
        if (req.method === 'GET') return void res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(previewPage({ tenants: ['acme.example.com'] }));
        let body = '';
        req.on('data', (c) => (body += c));
        req.on('end', async () => {
          try {
            res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(await plugin.preview(JSON.parse(body))));
          } catch (e) {
            res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify((e as PluginError).toJSON()));
          }
        });
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const { chromium } = await import('playwright-core');
      const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'pbx-page-'));
      const browser = await chromium.launchPersistentContext(profile, { executablePath: process.env.CHROMIUM_PATH ?? DEFAULT_CHROMIUM, args: CHROMIUM_ARGS });
      try {
        const page = browser.pages()[0] ?? (await browser.newPage());
        await page.goto(`http://127.0.0.1:${(server.address() as { port: number }).port}/preview`);
        await page.selectOption('#eventType', 'call.missed');
        await page.selectOption('#language', 'de');
        await page.waitForFunction(`document.getElementById('subject').textContent.includes('[de]')`);
        expect(await page.textContent('#subject')).to.equal('Gespeichert: Dave Caller  [de]');
        const frame = page.frameLocator('#html');
        expect(await frame.locator('h1').textContent()).to.equal('Verpasster Anruf');
        expect(await page.textContent('#text')).to.contain('Zeitpunkt:      Samstag, 28. November 2026 um 13:10');
      } finally {
        await browser.close();
        fs.rmSync(profile, { recursive: true, force: true });
        await new Promise((r) => server.close(r));
      }
    });

    it('every default mail in every language fits a 375 px phone and a 1200 px window: no sideways scroll; labels over values on the phone, beside them on the desktop', async () => {
      const { chromium } = await import('playwright-core');
      const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'pbx-widths-'));
      const browser = await chromium.launchPersistentContext(profile, { executablePath: process.env.CHROMIUM_PATH ?? DEFAULT_CHROMIUM, args: CHROMIUM_ARGS, offline: true });
      try {
        const page = browser.pages()[0] ?? (await browser.newPage());
        for (const eventType of ['voicemail.received', 'fax.received', 'call.missed']) {
          for (const language of ['en', 'de', 'fr', 'es']) {
            const r = await plugin.preview({ tenant: 'acme.example.com', eventType, language });
            await page.setContent(r.html, { waitUntil: 'load' });
            for (const width of [375, 1200]) {
              await page.setViewportSize({ width, height: 700 });
              const where = `${eventType} ${language} at ${width} px`;
              expect(await page.evaluate('document.documentElement.scrollWidth'), where).to.equal(width);
              const rows = (await page.evaluate(`[...document.querySelectorAll('td.label')].map((l) => [l.getBoundingClientRect().top, l.nextElementSibling.getBoundingClientRect().top])`)) as [number, number][];
              expect(rows.length, where).to.be.at.least(3);
              for (const [label, value] of rows) expect(width === 375 ? value > label : value === label, `${where}: label at ${label}, value at ${value}`).to.equal(true);
            }
          }
        }
      } finally {
        await browser.close();
        fs.rmSync(profile, { recursive: true, force: true });
      }
    });

    it('tells a blank page from a mail (so the check above can fail)', async () => {
      const { ink } = inkRatio(await screenshotHtml('<!DOCTYPE html><html><body style="background:#fff"></body></html>'));
      expect(ink).to.be.lessThan(0.001);
    });
  });
});
