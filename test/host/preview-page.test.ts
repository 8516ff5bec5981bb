import { expect } from 'chai';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { ReferenceHost } from '../../src/host/reference-host';
import { CHROMIUM_ARGS, DEFAULT_CHROMIUM } from '../../src/templates/screenshot';
import { tenantConfig } from '../helpers/events';
import { testCa } from '../helpers/smtp';

const root = path.join(__dirname, '../..');
const TOKEN = 'preview-page-token-0123456789';
const chromium = process.env.CHROMIUM_PATH ?? DEFAULT_CHROMIUM;

/** Records every CSP violation in every frame, and every console error. */
async function watch(context: BrowserContext): Promise<{ violations: (page: Page) => Promise<string[]>; errors: string[] }> {
  await context.addInitScript(`window.__csp = []; document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(e.effectiveDirective + ' ' + e.blockedURI));`);
  const errors: string[] = [];
  context.on('console', (m) => void (m.type() === 'error' && errors.push(m.text())));
  return { violations: (page) => page.evaluate<string[]>('window.__csp'), errors };
}

/** Polls a JavaScript expression in the page until it is true (waitForFunction would eval inside the page, which its CSP forbids). */
async function waitFor(page: Page, expr: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await page.evaluate(expr))) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${expr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('host: preview page in headless Chromium', function () {
  this.timeout(90_000);
  let host: ReferenceHost;
  let dataDir: string;
  let profile: string;
  let base: string;

  before(async function () {
    if (!fs.existsSync(chromium)) {
      if (process.env.CI) throw new Error(`Chromium is missing at ${chromium}: .ci/run installs it with apt-get install -y chromium`);
      this.skip();
    }
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pbx-page-data-'));
    host = await ReferenceHost.start({ pluginDir: root, config: tenantConfig(testCa().cert, { 'a.example.com': { port: 1 }, 'b.example.com': { port: 1 } }), dataDir, httpPort: 0, httpToken: TOKEN, log: { debug() {}, info() {}, warn() {}, error() {} } });
    base = `http://127.0.0.1:${host.httpPort}`;
  });
  after(async () => {
    await host?.stop();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  async function browser(viewport: { width: number; height: number }) {
    const { chromium: pw } = await import('playwright-core');
    profile = fs.mkdtempSync(path.join(os.tmpdir(), 'pbx-page-'));
    const context = await pw.launchPersistentContext(profile, { executablePath: chromium, args: CHROMIUM_ARGS, viewport });
    return {
      context,
      close: async () => {
        await context.close();
        fs.rmSync(profile, { recursive: true, force: true });
      },
    };
  }
  const rendered = (page: Page) => waitFor(page, `document.getElementById('subject').textContent.includes('[en]')`);

  it('on a 375 px screen: token from the fragment, no horizontal scroll, controls stacked, width toggle, no CSP violation', async () => {
    const { context, close } = await browser({ width: 375, height: 740 });
    try {
      const seen = await watch(context);
      const page = context.pages()[0] ?? (await context.newPage());
      const res = await page.goto(`${base}/preview#token=${TOKEN}`);
      const headers = res!.headers();
      expect(headers['x-frame-options']).to.equal('DENY');
      const csp = headers['content-security-policy']!;
      expect(csp).to.match(/script-src 'nonce-[A-Za-z0-9+/=]{24}'(;|$)/);
      expect(csp).to.contain("frame-ancestors 'none'");
      expect(csp).to.contain("default-src 'none'");
      await page.selectOption('#language', 'en');
      await rendered(page);
      // The token left the address bar for sessionStorage; the tenants came with it.
      expect(await page.evaluate('location.href')).to.equal(`${base}/preview`);
      expect(await page.evaluate(`sessionStorage.getItem('pbx-email-notify.token')`)).to.equal(TOKEN);
      expect(await page.inputValue('#tenant')).to.equal('a.example.com');
      expect(await page.evaluate(`[...document.querySelectorAll('#tenants option')].map((o) => o.value)`)).to.deep.equal(['a.example.com', 'b.example.com']);

      const noHorizontalScroll = () => page.evaluate<number[]>('[document.documentElement.scrollWidth, document.documentElement.clientWidth]');
      const [sw, cw] = await noHorizontalScroll();
      expect(sw, 'page scroll width').to.equal(cw);
      // Controls stack: one above the other, each as wide as the screen allows.
      const boxes = await Promise.all(['#tenant', '#eventType', '#language', '#token', '#render'].map((s) => page.locator(s).boundingBox()));
      for (let i = 1; i < boxes.length; i++) {
        expect(boxes[i]!.y, `control ${i} below the one before`).to.be.greaterThan(boxes[i - 1]!.y + boxes[i - 1]!.height - 1);
        expect(boxes[i]!.x).to.equal(boxes[0]!.x);
      }
      expect(boxes[0]!.width).to.be.greaterThan(300);
      // Phone width by default on a phone; the mail frame fits the screen.
      expect(await page.getAttribute('#width-phone', 'aria-pressed')).to.equal('true');
      const frame = await page.locator('#html').boundingBox();
      expect(frame!.x).to.be.greaterThan(0);
      expect(frame!.x + frame!.width).to.be.lessThan(375);
      // The mail inside is laid out for the frame's width, not cut off at its right edge.
      const mail = page.frames().find((f) => f !== page.mainFrame())!;
      const [mailScroll, mailWidth] = await mail.evaluate<number[]>('[document.documentElement.scrollWidth, window.innerWidth]');
      expect(mailScroll, 'mail scroll width in the phone frame').to.equal(mailWidth);
      await page.click('#width-desktop');
      expect(await page.getAttribute('#html', 'class')).to.equal('desktop');
      expect(await page.getAttribute('#width-desktop', 'aria-pressed')).to.equal('true');
      expect(await page.getAttribute('#width-phone', 'aria-pressed')).to.equal('false');
      const [sw2, cw2] = await noHorizontalScroll();
      expect(sw2).to.equal(cw2);
      await page.click('#width-phone');
      expect(await page.getAttribute('#html', 'class')).to.equal('phone');

      expect(await seen.violations(page)).to.deep.equal([]);
      expect(seen.errors).to.deep.equal([]);
      // The policy is live: a script from elsewhere, or inline without the nonce, is refused.
      await page.evaluate(`(() => {
        const s = document.createElement('script');
        s.src = 'http://127.0.0.1:9/evil.js';
        document.head.append(s);
        const i = document.createElement('script');
        i.textContent = 'window.ran = true';
        document.head.append(i);
      })()`);
      await waitFor(page, 'window.__csp.length === 2');
      expect((await seen.violations(page)).map((v) => v.split(' ')[0]).sort()).to.deep.equal(['script-src-elem', 'script-src-elem']);
      expect(await page.evaluate('window.ran')).to.equal(undefined);
    } finally {
      await close();
    }
  });

  it('on a desktop: the width toggle switches the mail between phone and desktop width', async () => {
    const { context, close } = await browser({ width: 1280, height: 900 });
    try {
      const page = context.pages()[0] ?? (await context.newPage());
      await page.goto(`${base}/preview#token=${TOKEN}`);
      await page.selectOption('#language', 'en');
      await rendered(page);
      expect(await page.getAttribute('#width-desktop', 'aria-pressed')).to.equal('true');
      const desktop = (await page.locator('#html').boundingBox())!.width;
      expect(desktop).to.be.greaterThan(600);
      await page.click('#width-phone');
      expect((await page.locator('#html').boundingBox())!.width).to.equal(375);
      await page.click('#width-desktop');
      expect((await page.locator('#html').boundingBox())!.width).to.equal(desktop);
    } finally {
      await close();
    }
  });

  it('without the fragment the page asks for the token, keeps it for the tab, and then renders', async () => {
    const { context, close } = await browser({ width: 1024, height: 800 });
    try {
      const seen = await watch(context);
      const page = context.pages()[0] ?? (await context.newPage());
      await page.goto(`${base}/preview`);
      await waitFor(page, `document.getElementById('subject').textContent.startsWith('HTTP_UNAUTHORIZED')`);
      await page.fill('#token', TOKEN);
      await page.press('#token', 'Tab');
      await waitFor(page, `document.getElementById('subject').textContent.includes('[')`);
      expect(await page.inputValue('#token')).to.equal('');
      expect(await page.evaluate(`sessionStorage.getItem('pbx-email-notify.token')`)).to.equal(TOKEN);
      await page.reload();
      await page.selectOption('#language', 'en');
      await rendered(page);
      expect(await seen.violations(page)).to.deep.equal([]);
      // The two 401s before the token was typed are the only console errors.
      expect(seen.errors.filter((e) => !/status of 401/.test(e))).to.deep.equal([]);
    } finally {
      await close();
    }
  });

  it('refuses to be framed by another page', async () => {
    const other = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(`<iframe src="${base}/preview"></iframe>`));
    await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
    const { context, close } = await browser({ width: 1024, height: 800 });
    try {
      const messages: string[] = [];
      context.on('console', (m) => void messages.push(m.text()));
      const page = context.pages()[0] ?? (await context.newPage());
      await page.goto(`http://127.0.0.1:${(other.address() as { port: number }).port}/`);
      const end = Date.now() + 20_000;
      while (!messages.some((m) => /frame-ancestors|X-Frame-Options/.test(m))) {
        if (Date.now() > end) expect.fail(`no framing refusal in ${JSON.stringify(messages)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(await page.frames()[1]!.locator('#tenant').count()).to.equal(0);
    } finally {
      await close();
      await new Promise((r) => other.close(r));
    }
  });
});
