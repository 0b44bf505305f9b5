// The dashboard in a real browser against a real server, as an operator uses it: a bad canary
// shows up, its error chart crosses the rule's threshold, it is rolled back and its incident
// opens; a manual rollback through the button; a flag switched off with a reason. Screenshots of
// each go to REWIND_SCREENSHOTS (docs/img refreshes the docs' pictures) or a temp dir.
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, screenshotDir, signedInPage } from '../support/browser.ts';
import {
  type Harness,
  oneShopConfig,
  ROOT,
  startLoad,
  startRewind,
  waitFor,
} from '../support/rewind-harness.ts';

const config = (appPort: number) =>
  oneShopConfig(
    appPort,
    `    strategy:
      canary:
        steps: [ { setWeight: 30 }, { pause: {} }, { setWeight: 100 } ]
        bake: 200ms
        keepPreviousWarm: 1m
    analysis:
      interval: 1s
      rules:
        - { name: errors-critical, metric: errorRate, above: 10%, for: 2s, minSample: 20, severity: P0 }
`,
  );

interface AppView {
  stableRevision: number | null;
  stableVersion: string | null;
  activeRollout: { id: string; phase: string } | null;
}

/** The smallest y any revision's line reaches in a chart (SVG y grows downwards: the highest value). */
async function highestPoint(page: Page, chart: string): Promise<number> {
  return page
    .locator(`[data-testid="${chart}"] path.line`)
    .evaluateAll((paths) =>
      Math.min(
        ...paths.flatMap((p) =>
          [...(p.getAttribute('d') ?? '').matchAll(/[ML]\s*[-\d.]+[ ,]([-\d.]+)/g)].map((m) => Number(m[1])),
        ),
      ),
    );
}

describe('the dashboard in Chromium', () => {
  let h: Harness;
  let browser: Browser;
  let page: Page;
  let shots: string;

  before(async () => {
    shots = screenshotDir();
    browser = await launchChromium();
    h = await startRewind({ config });
    await waitFor('v1', async () => (await fetch(h.appUrl)).headers.get('x-shop-version') === 'v1');
    page = await signedInPage(browser, h);
  });
  after(async () => {
    await browser?.close();
    await h?.close();
  });

  const app = async () => (await (await h.fetch(`${h.apiUrl}/api/v1/apps/shop`)).json()) as AppView;
  const shot = async (name: string, p: Page = page) => {
    const file = join(shots, `${name}.png`);
    await p.screenshot({ path: file, fullPage: true });
    assert.ok(statSync(file).size > 10_000, `${file} holds a picture`);
  };

  test('given v1 on the apps page, when a v2 canary fails 30% of its requests, then its chart crosses the threshold, it is rolled back and the incident opens', async () => {
    await page.locator('[data-testid="app-shop"]').waitFor();
    assert.match(await page.locator('[data-testid="traffic-shop"]').innerText(), /100/);
    const load = startLoad(`${h.appUrl}/products`, 4);
    try {
      const deployed = await h.cli(
        'deploy',
        'shop',
        '--version',
        'v2',
        '--env',
        'SHOP_ERROR_RATE=0.3',
        '--json',
      );
      assert.equal(deployed.code, 0, deployed.stderr);
      const rolloutId = (JSON.parse(deployed.stdout) as { id: string }).id;
      // The apps page learns of the rollout from the stream, without a reload.
      await waitFor('the canary on the apps page', async () =>
        /30/.test(await page.locator('[data-testid="traffic-shop"]').innerText()),
      );
      await shot('dashboard-apps-canary');
      await page.goto(`${h.apiUrl}/apps/shop/rollouts/${rolloutId}`);
      const threshold = page.locator(
        '[data-testid="chart-error-rate"] [data-testid="threshold-errors-critical"]',
      );
      // A horizontal SVG line has no height: Playwright calls it hidden, so wait for it to be there.
      await threshold.waitFor({ state: 'attached' });
      // The chart rescales as data comes: the line's height is read with the points it is compared to.
      await waitFor(
        "the canary's error rate drawn above the threshold",
        async () =>
          (await highestPoint(page, 'chart-error-rate')) < Number(await threshold.getAttribute('y1')),
        30_000,
      );
      await waitFor(
        'the rollback on the page',
        async () => /rolled ?back/i.test(await page.locator('[data-testid="phase-shop"]').innerText()),
        30_000,
      );
      await shot('dashboard-rollout-rolled-back');
    } finally {
      await load.stop();
    }
    assert.equal((await app()).stableVersion, 'v1');
    const [incident] = (await (await h.fetch(`${h.apiUrl}/api/v1/incidents`)).json()) as { id: string }[];
    assert.ok(incident, 'the rollback opened an incident');
    await page.goto(`${h.apiUrl}/incidents`);
    await page.locator(`[data-testid="incident-${incident.id}"]`).waitFor();
    await page.goto(`${h.apiUrl}/incidents/${incident.id}`);
    const download = page.locator('[data-testid="download-md"]');
    await download.waitFor();
    assert.equal(await download.getAttribute('href'), `/api/v1/incidents/${incident.id}?format=md`);
    await shot('dashboard-incident');
  });

  test('given v3 promoted to stable, when the operator rolls back with the button and a reason, then v1 serves again', async () => {
    const deployed = await h.cli('deploy', 'shop', '--version', 'v3', '--json');
    assert.equal(deployed.code, 0, deployed.stderr);
    await waitFor('the v3 canary paused', async () => (await app()).activeRollout?.phase === 'Paused');
    const promoted = await h.cli('promote', 'shop', '--full');
    assert.equal(promoted.code, 0, promoted.stderr);
    await waitFor('v3 stable', async () => {
      const a = await app();
      return a.stableVersion === 'v3' && a.activeRollout === null;
    });

    await page.goto(`${h.apiUrl}/apps/shop`);
    await page.locator('[data-testid="action-rollback"]').click();
    await page.locator('[data-testid="reason"]').fill('v3 breaks checkout for EU users');
    await shot('dashboard-rollback-dialog');
    await page.locator('[data-testid="confirm"]').click();
    await waitFor(
      'v1 serving again',
      async () => (await fetch(h.appUrl)).headers.get('x-shop-version') === 'v1',
      30_000,
    );
    await waitFor('the rollback finished', async () => {
      const a = await app();
      return a.stableVersion === 'v1' && a.activeRollout === null;
    });
    const audit = (await (await h.fetch(`${h.apiUrl}/api/v1/audit?app=shop`)).json()) as {
      entries: { route: string; reason: string | null }[];
    };
    assert.ok(
      audit.entries.some(
        (e) => e.route.endsWith('/rollback') && e.reason === 'v3 breaks checkout for EU users',
      ),
      'the reason typed in the dialog is in the audit trail',
    );
  });

  test('given a flag set, when the operator switches a flag off with a reason, then it is disabled', async () => {
    const set = await h.cli('flags', 'set', 'shop', '--file', join(ROOT, 'examples/shop/flags.json'));
    assert.equal(set.code, 0, set.stderr);
    await page.goto(`${h.apiUrl}/apps/shop/flags`);
    await page.locator('[data-testid="flag-toggle-recommendations"]').click();
    await page.locator('[data-testid="reason"]').fill('recommendations time out');
    await page.locator('[data-testid="confirm"]').click();
    await waitFor('the flag disabled', async () => {
      const flag = (await (await h.fetch(`${h.apiUrl}/api/v1/apps/shop/flags/recommendations`)).json()) as {
        definition: { state: string };
      };
      return flag.definition.state === 'DISABLED';
    });
    await page
      .locator('[data-testid="flag-recommendations"]')
      .getByText(/disabled/i)
      .first()
      .waitFor();
    await shot('dashboard-flags');
  });

  test('at phone width the apps page fits the screen', async () => {
    const phone = await signedInPage(browser, h, 390);
    await phone.locator('[data-testid="app-shop"]').waitFor();
    const overflow = await phone.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth');
    assert.ok(overflow <= 0, `the page is ${overflow} px wider than a 390 px screen`);
    await shot('dashboard-phone', phone);
    await phone.context().close();
  });
});
