// The dashboard in Debian's Chromium (playwright-core) against a real server:
//  - first load: bytes over the wire and time to the first render with data (the page marks
//    <html data-ready="1"> once the first `apps` message is drawn), cold (empty cache) and warm
//    (reload, cached assets); beside it the same built files served by nginx (gzip on), to show
//    what serving them costs Rewind against a static file server (nginx's page has no API behind
//    it, so only its load event compares);
//  - live updates: a canary's weight change and its abort, from the API call that made each to the
//    traffic split the page shows (a MutationObserver stamps the change in the page), and how late
//    each second's `metrics` message arrives after that second ended.
//
//   node bench/dashboard.ts [--rounds 5] [--json]

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { WEB_ROOT } from '../src/server/build-app.ts';
import { launchChromium, signedInPage } from '../test/support/browser.ts';
import { freePort, oneShopConfig, waitFor } from '../test/support/rewind-harness.ts';
import {
  commandLine,
  intFlag,
  machine,
  machineLine,
  nowMs,
  round,
  startBenchRewind,
  summarize,
  table,
} from './lib/rewind-cycle.ts';

const args = process.argv.slice(2);
const rounds = intFlag(args, 'rounds', 5);
const asJson = args.includes('--json');
const log = (line: string) => (asJson ? process.stderr : process.stdout).write(`${line}\n`);

const config = (appPort: number) =>
  oneShopConfig(
    appPort,
    `    strategy:
      canary:
        steps: [ { setWeight: 30 }, { pause: {} }, { setWeight: 100 } ]
        keepPreviousWarm: 1m
`,
  );

/** Stamps, inside the page, when the traffic split changes and how late each metrics message is. */
const PROBE = `
  window.__rw = { changes: [], metricsLag: [], ready: null };
  const Native = window.EventSource;
  window.EventSource = class extends Native {
    constructor(...a) {
      super(...a);
      this.addEventListener('metrics', (e) => {
        const second = JSON.parse(e.data).second;
        window.__rw.metricsLag.push(Date.now() - (second + 1) * 1000);
      });
    }
  };
  new MutationObserver(() => {
    if (window.__rw.ready === null && document.documentElement.dataset.ready === '1')
      window.__rw.ready = performance.now();
    const el = document.querySelector('[data-testid="traffic-shop"]');
    const text = el ? el.textContent : null;
    const last = window.__rw.changes[window.__rw.changes.length - 1];
    if (text !== null && (!last || last.text !== text)) window.__rw.changes.push({ text, at: Date.now() });
  }).observe(document, { subtree: true, childList: true, characterData: true, attributes: true });
`;

interface Load {
  readonly bytes: number;
  readonly readyMs: number | null;
  readonly loadMs: number;
  readonly requests: number;
}

/** Bytes as the network sent them (encoded) and timings of one navigation, from the page's own entries. */
function measureLoad(page: Page): Promise<Load> {
  // Runs in the page (a string: this file is typed without the DOM's types).
  return page.evaluate(`(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    const fetched = performance.getEntriesByType('resource').filter((r) => !r.name.includes('/api/v1/stream'));
    return {
      bytes: nav.transferSize + fetched.reduce((s, r) => s + r.transferSize, 0),
      readyMs: window.__rw ? window.__rw.ready : null,
      loadMs: nav.loadEventEnd,
      requests: 1 + fetched.length,
    };
  })()`);
}

async function firstLoads(
  browser: Browser,
  url: (path: string) => string,
  withData: boolean,
  signIn?: () => Promise<string>,
) {
  const cold: Load[] = [];
  const warm: Load[] = [];
  for (let i = 0; i < rounds; i++) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await context.addInitScript(PROBE);
    const page = await context.newPage();
    await page.goto(signIn ? await signIn() : url('/'));
    if (withData) await page.waitForSelector('html[data-ready="1"]');
    else await page.waitForLoadState('load');
    await page.waitForTimeout(200);
    cold.push(await measureLoad(page));
    await page.reload();
    if (withData) await page.waitForSelector('html[data-ready="1"]');
    else await page.waitForLoadState('load');
    await page.waitForTimeout(200);
    warm.push(await measureLoad(page));
    await context.close();
  }
  return { cold, warm };
}

async function startNginx(root: string): Promise<{ port: number; stop: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), 'rewind-bench-nginx-'));
  const port = await freePort();
  const conf = join(dir, 'nginx.conf');
  writeFileSync(
    conf,
    `worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  include /etc/nginx/mime.types;
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  gzip on;
  gzip_types text/css application/javascript text/javascript image/svg+xml;
  server {
    listen 127.0.0.1:${port};
    root ${root};
    location / { try_files $uri /index.html; }
  }
}
`,
  );
  const child = spawn('nginx', ['-p', dir, '-e', join(dir, 'error.log'), '-c', conf, '-g', 'daemon off;'], {
    stdio: 'ignore',
    detached: true,
  });
  await waitFor('nginx', async () => (await fetch(`http://127.0.0.1:${port}/`)).ok, 10_000);
  return {
    port,
    stop: () => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {}
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const med = (xs: readonly (number | null)[]) => {
  const v = xs.filter((x): x is number => x !== null);
  return v.length ? round(summarize(v).median) : '-';
};

async function main() {
  const m0 = machine();
  log(`dashboard: ${rounds} rounds (${commandLine()})`);
  const h = await startBenchRewind(config);
  const browser = await launchChromium();
  const nginx = await startNginx(WEB_ROOT).catch((err: Error) => {
    log(`nginx not started (${err.message}): its row is left out`);
    return null;
  });
  try {
    const link = async () => {
      const r = await h.cli('dashboard', '--json');
      return (JSON.parse(r.stdout) as { url: string }).url;
    };
    const rewindLoads = await firstLoads(browser, (p) => `${h.apiUrl}${p}`, true, link);
    const nginxLoads = nginx
      ? await firstLoads(browser, (p) => `http://127.0.0.1:${nginx.port}${p}`, false)
      : null;

    // Live updates: each round a canary's weight change (30%) and its abort (back to 100% v1).
    const page = await signedInPage(browser, h);
    await page.addInitScript(PROBE);
    await page.reload();
    await page.waitForSelector('html[data-ready="1"]');
    const toPage: { change: string; ms: number }[] = [];
    const changes = async () =>
      (await page.evaluate<{ text: string; at: number }[]>('window.__rw.changes')) ?? [];
    const seen = async (since: number, match: RegExp) =>
      (await changes()).find((c) => c.at >= since && match.test(c.text));
    const post = (path: string, body: object) =>
      h.fetch(`${h.apiUrl}/api/v1/apps/shop/${path}`, { method: 'POST', body: JSON.stringify(body) });
    /** The newest event of `type` since `since`, by the server's clock (the same machine's). */
    const eventAt = async (type: string, since: number) => {
      const events = (await (await h.fetch(`${h.apiUrl}/api/v1/apps/shop/events`)).json()) as {
        at: number;
        type: string;
      }[];
      return [...events].reverse().find((e) => e.type === type && e.at >= since - 1)?.at;
    };
    for (let i = 0; i < rounds; i++) {
      const t0 = nowMs();
      const deployed = await post('deploy', { version: `v${i + 2}` });
      if (!deployed.ok) throw new Error(`deploy failed: ${await deployed.text()}`);
      const weight = await waitFor('30% on the page', () => seen(t0, /30/), 30_000);
      const weightAt = await waitFor('the weight event', () => eventAt('traffic.weight', t0));
      toPage.push({ change: 'canary weight 30%: event -> page', ms: weight.at - weightAt });
      const t1 = nowMs();
      const aborted = await post('abort', { reason: 'bench' });
      if (!aborted.ok) throw new Error(`abort failed: ${await aborted.text()}`);
      const back = await waitFor('100% on the page', () => seen(t1, /^(?!.*30).*100/), 30_000);
      const backAt = await waitFor('the switch-back event', () => eventAt('traffic.switched-back', t1));
      toPage.push({ change: 'abort: event -> page', ms: back.at - backAt });
      toPage.push({ change: 'abort: API call -> page', ms: back.at - t1 });
      await waitFor('rollout over', async () => {
        const a = (await (await h.fetch(`${h.apiUrl}/api/v1/apps/shop`)).json()) as {
          activeRollout: unknown;
        };
        return a.activeRollout === null;
      });
    }
    const lag = await page.evaluate<number[]>('window.__rw.metricsLag');

    const loadRows = [
      ['rewind cold', rewindLoads.cold],
      ['rewind warm', rewindLoads.warm],
      ...(nginxLoads
        ? ([
            ['nginx cold (files only)', nginxLoads.cold],
            ['nginx warm (files only)', nginxLoads.warm],
          ] as const)
        : []),
    ] as const;
    const result = {
      machine: machineLine({ cpus: m0.cpus, loadavgAtStart: m0.loadavg, loadavgAtEnd: machine().loadavg }),
      firstLoad: loadRows.map(([name, loads]) => ({
        name,
        bytes: med(loads.map((l) => l.bytes)),
        requests: med(loads.map((l) => l.requests)),
        readyMs: med(loads.map((l) => l.readyMs)),
        loadMs: med(loads.map((l) => l.loadMs)),
      })),
      live: [...new Set(toPage.map((t) => t.change))].map((change) => {
        const s = summarize(toPage.filter((t) => t.change === change).map((t) => t.ms));
        return { change, n: s.n, p50: round(s.median), max: round(s.max) };
      }),
      metricsLag: lag.length
        ? { n: lag.length, p50: round(summarize(lag).median), max: round(summarize(lag).max) }
        : null,
    };
    if (asJson) return console.log(JSON.stringify(result, null, 2));
    log(
      table(
        ['first load (median)', 'bytes', 'requests', 'first render with data ms', 'load event ms'],
        result.firstLoad.map((r) => [r.name, r.bytes, r.requests, r.readyMs, r.loadMs]),
      ),
    );
    log(
      table(
        ['live update', 'n', 'median ms', 'max ms'],
        [
          ...result.live.map((l) => [l.change, l.n, l.p50, l.max]),
          ...(result.metricsLag
            ? [
                [
                  'metrics message after its second ended',
                  result.metricsLag.n,
                  result.metricsLag.p50,
                  result.metricsLag.max,
                ],
              ]
            : []),
        ],
      ),
    );
    log(result.machine);
  } finally {
    nginx?.stop();
    await browser.close();
    await h.closeOnce();
  }
}

await main();
