import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { ReferenceHost } from '../../src/host/reference-host';
import { CHROMIUM_ARGS, DEFAULT_CHROMIUM } from '../../src/templates/screenshot';
import { missed, tenantConfig, voicemail } from '../helpers/events';
import { TestSmtp, testCa } from '../helpers/smtp';

const root = path.join(__dirname, '../..');
const TOKEN = 'ops-page-token-0123456789abc';
const chromium = process.env.CHROMIUM_PATH ?? DEFAULT_CHROMIUM;
const A = 'a.example.com';
const B = 'b.example.com';
const quiet = { debug() {}, info() {}, warn() {}, error() {} };

/** Polls a JavaScript expression in the page until it is true (waitForFunction would eval inside the page, which its CSP forbids); `poke` runs between looks. */
async function until(page: Page, expr: string, what: string, poke?: () => Promise<unknown>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await page.evaluate(expr))) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what} (${expr}); notice: ${await page.textContent('#notice')}`);
    await poke?.();
    await new Promise((r) => setTimeout(r, 150));
  }
}

const row = (id: string) => `tr[data-event-id="${id}"]`;
const stateIs = (id: string, state: string) => `document.querySelector('${row(id)}')?.dataset.state === '${state}'`;

describe('host: the /ops page in headless Chromium', function () {
  this.timeout(90_000);
  let host: ReferenceHost;
  let smtp: TestSmtp;
  let dataDir: string;
  let profile: string;
  let base: string;
  // Mutable: deleting the entry is "the operator fixed the server".
  const rcptErrors: Record<string, number> = { [`alice@${A}`]: 550 };

  before(async function () {
    if (!fs.existsSync(chromium)) {
      if (process.env.CI) throw new Error(`Chromium is missing at ${chromium}: .ci/run installs it with apt-get install -y chromium`);
      this.skip();
    }
    smtp = await TestSmtp.start({ ca: testCa(), rcptErrors });
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pbx-ops-page-'));
    const config = tenantConfig(testCa().cert, { [A]: { port: smtp.port }, [B]: { port: 1 } }, {
      delivery: { retry: { initialDelayMs: 60_000, maxDelayMs: 60_000, maxAgeMs: 600_000 }, messageTimeoutMs: 8000, shutdownTimeoutMs: 500 },
    });
    host = await ReferenceHost.start({ pluginDir: root, config, dataDir, httpPort: 0, httpToken: TOKEN, log: quiet });
    base = `http://127.0.0.1:${host.httpPort}`;
  });
  after(async () => {
    await host?.stop();
    await smtp?.close();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  async function browser(): Promise<{ context: BrowserContext; page: Page; csp: () => Promise<string[]>; errors: string[]; close: () => Promise<void> }> {
    const { chromium: pw } = await import('playwright-core');
    profile = fs.mkdtempSync(path.join(os.tmpdir(), 'pbx-ops-profile-'));
    const context = await pw.launchPersistentContext(profile, { executablePath: chromium, args: CHROMIUM_ARGS, viewport: { width: 1280, height: 900 } });
    await context.addInitScript(`window.__csp = []; document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(e.effectiveDirective + ' ' + e.blockedURI));`);
    const errors: string[] = [];
    context.on('console', (m) => void (m.type() === 'error' && errors.push(m.text())));
    const page = context.pages()[0] ?? (await context.newPage());
    return {
      context,
      page,
      csp: () => page.evaluate<string[]>('window.__csp'),
      errors,
      close: async () => {
        await context.close();
        fs.rmSync(profile, { recursive: true, force: true });
      },
    };
  }

  it('asks for the token once, shows a failed message with its 550, retries it after the fix and sees it delivered; discard, flush, test-send', async () => {
    const failing = voicemail(A);
    const stuck = missed(B);
    await host.dispatch(failing as never);
    await host.dispatch(stuck as never);
    const { page, csp, errors, close } = await browser();
    try {
      const res = await page.goto(`${base}/ops`);
      expect(res!.headers()['x-frame-options']).to.equal('DENY');
      expect(res!.headers()['content-security-policy']).to.match(/script-src 'nonce-[A-Za-z0-9+/=]{24}'; /);
      await until(page, `document.getElementById('notice').textContent.startsWith('HTTP_UNAUTHORIZED')`, 'the page to ask for the token');
      await page.fill('#token', TOKEN);
      await page.press('#token', 'Tab');
      expect(await page.evaluate(`sessionStorage.getItem('pbx-email-notify.token')`)).to.equal(TOKEN);
      const refresh = () => page.click('#refresh');
      await until(page, stateIs(failing.id, 'failed'), 'the 550 to show as failed', refresh);
      expect(await page.textContent(`tr[data-tenant="${A}"]:not([data-event-id])`)).to.contain(A);

      // Why it failed: the log shows the server's reply and the recipient.
      await page.click(`${row(failing.id)} button[data-action="log"]`);
      await until(page, `!!document.querySelector('tr[data-log-of="${failing.id}"]')`, 'the delivery log');
      const log = (await page.textContent(`tr[data-log-of="${failing.id}"]`))!;
      expect(log).to.contain('550');
      expect(log).to.contain(`alice@${A}`);
      expect(smtp.mails).to.have.length(0);

      delete rcptErrors[`alice@${A}`];
      await page.click(`${row(failing.id)} button[data-action="retry"]`);
      await until(page, stateIs(failing.id, 'delivered'), 'the retried message delivered', refresh);
      expect(smtp.mails.map((m) => m.parsed.headers.get('x-pbx-event-id'))).to.deep.equal([failing.id]);

      // B's server is dead: its mail is deferred; discarding it makes it a dead letter.
      await until(page, stateIs(stuck.id, 'deferred'), "B's mail deferred", refresh);
      page.once('dialog', (d) => void d.accept());
      await page.click(`${row(stuck.id)} button[data-action="discard"]`);
      await until(page, stateIs(stuck.id, 'discarded'), "B's mail discarded", refresh);

      await page.click(`tr[data-tenant="${B}"]:not([data-event-id]) button[data-action="flush"]`);
      await until(page, `document.getElementById('notice').textContent.startsWith('flush: ${B}')`, 'the flush answer');

      await page.selectOption('#test-tenant', A);
      await page.fill('#test-to', `ops@${A}`);
      await page.click('#test-send');
      await until(page, `!!document.getElementById('test-transcript')`, 'the test-send transcript');
      expect(await page.textContent('#test-transcript')).to.contain('delivered');
      expect(smtp.mails.map((m) => m.to)).to.deep.equal([[`alice@${A}`], [`ops@${A}`]]);

      // On a phone the page itself never scrolls sideways: wide tables scroll in their own box.
      await page.setViewportSize({ width: 375, height: 800 });
      expect(await page.evaluate<number[]>('[document.documentElement.scrollWidth, document.documentElement.clientWidth]')).to.deep.equal([375, 375]);

      expect(await csp()).to.deep.equal([]);
      // The one 401 before the token was typed is the only console error.
      expect(errors.filter((e) => !/status of 401/.test(e))).to.deep.equal([]);
    } finally {
      await close();
    }
  });
});
