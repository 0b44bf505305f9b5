// A real browser for the dashboard's stories: Debian's Chromium driven by playwright-core (never a
// downloaded browser), signed in with the link `rewind dashboard` prints, as a user would.
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import type { Harness } from './rewind-harness.ts';

export const CHROMIUM = process.env.REWIND_CHROMIUM || '/usr/bin/chromium';

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM))
    throw new Error(
      `no Chromium at ${CHROMIUM}: the dashboard's browser tests need it. Install Debian's (apt-get install -y chromium) or point REWIND_CHROMIUM at one.`,
    );
  // --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
}

/** Opens a page at `width` px signed in to the harness's server through a fresh sign-in link. */
export async function signedInPage(browser: Browser, h: Harness, width = 1280): Promise<Page> {
  const r = await h.cli('dashboard', '--json');
  if (r.code !== 0) throw new Error(`rewind dashboard failed: ${r.stderr}`);
  const { url } = JSON.parse(r.stdout) as { url: string };
  const context = await browser.newContext({ viewport: { width, height: width < 600 ? 844 : 900 } });
  const page = await context.newPage();
  await page.goto(url);
  await page.waitForSelector('html[data-ready="1"]');
  return page;
}

/**
 * Where screenshots go: REWIND_SCREENSHOTS (docs/img to refresh the docs' pictures), else a temp
 * dir, so that a test run leaves the repository as it was.
 */
export function screenshotDir(): string {
  const dir = process.env.REWIND_SCREENSHOTS
    ? resolve(process.env.REWIND_SCREENSHOTS)
    : mkdtempSync(join(tmpdir(), 'rewind-shots-'));
  mkdirSync(dir, { recursive: true });
  return dir;
}
