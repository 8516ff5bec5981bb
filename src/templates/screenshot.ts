import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** Debian's chromium package installs it here (`apt-get install -y chromium`). */
export const DEFAULT_CHROMIUM = '/usr/bin/chromium';

/** Flags for a quiet, private, single-shot headless Chromium: no network chatter, no profile reuse. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface ScreenshotOptions {
  /** Chromium binary; $CHROMIUM_PATH, else /usr/bin/chromium. */
  executablePath?: string;
  /** Viewport width in CSS pixels (a mail client's reading pane). @default 680 */
  width?: number;
  /** Launch timeout, in milliseconds. @default 30000 */
  timeoutMs?: number;
}

/**
 * Renders an HTML document in headless Chromium (driven by playwright-core, with a fresh
 * profile directory that is removed afterwards) and returns a full-page PNG. Network access is
 * blocked: the mail must look right from its own markup (remote logos show as their alt text).
 */
export async function screenshotHtml(html: string, o: ScreenshotOptions = {}): Promise<Buffer> {
  const [png] = await screenshotWidths(html, [o.width ?? 680], o);
  return png!;
}

/**
 * Full-page PNGs of one HTML document at several viewport widths (a phone's 375, a desktop
 * client's 1200), from one Chromium launch; as screenshotHtml otherwise.
 * @example await screenshotWidths(mail.html, [375, 1200]) // [png375, png1200]
 */
export async function screenshotWidths(html: string, widths: readonly number[], o: Omit<ScreenshotOptions, 'width'> = {}): Promise<Buffer[]> {
  // Loaded here so the plugin itself never loads playwright-core.
  const { chromium } = await import('playwright-core');
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pbx-email-preview-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: o.executablePath ?? process.env.CHROMIUM_PATH ?? DEFAULT_CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: widths[0] ?? 680, height: 400 },
    timeout: o.timeoutMs ?? 30_000,
    offline: true,
  });
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    await page.route('**/*', (route) => (route.request().url().startsWith('data:') ? route.continue() : route.abort()));
    await page.setContent(html, { waitUntil: 'load' });
    const out: Buffer[] = [];
    for (const width of widths) {
      await page.setViewportSize({ width, height: 400 });
      out.push(await page.screenshot({ fullPage: true, type: 'png' }));
    }
    return out;
  } finally {
    await context.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
}
