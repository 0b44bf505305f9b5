// The watch after a rollback on real processes: the restored revision is judged against the
// runbook's checklist for `verify.watch`, its incident Verifying meanwhile; a restored revision
// that starts failing after the switch escalates the incident to P0 and notifies at once, one that
// holds resolves it when the watch ends.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Harness, ROOT, startLoad, startRewind, waitFor } from '../support/rewind-harness.ts';

interface Notification {
  type: string;
  message: string;
  severity?: string;
}

interface IncidentView {
  id: string;
  status: string;
  severity: string;
  rollback: { trafficRestoredAt: number | null };
  watch?: { until: number; result: string | null; reason?: string };
  verification: {
    at: number;
    checks: { name: string; passed: boolean; notChecked?: boolean; detail: string }[];
  } | null;
  evidence?: { series: { revisions: { role: string; points: { second: number; requests: number }[] }[] } };
}

/** A webhook receiver on loopback: what Rewind notified, in order. */
async function receiver(): Promise<{ server: Server; url: string; got: Notification[] }> {
  const got: Notification[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      got.push(JSON.parse(body) as Notification);
      res.end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, got };
}

/** The shop with its errors switched on by a file (SHOP_ERROR_FILE), a P0 rule and `verify`. */
const config = (errorFile: string, verify: string, hook: string) => (appPort: number) =>
  `apps:
  - name: shop
    listen: 127.0.0.1:${appPort}
    run:
      command: node ${join(ROOT, 'examples/shop/server.js')}
      env: { SHOP_VERSION: "\${version}", SHOP_ERROR_RATE: "0.5", SHOP_ERROR_FILE: "${errorFile}" }
      instances: 1
      stopTimeout: 2s
    health: { path: /healthz, interval: 100ms, timeout: 2s, startTimeout: 5s }
    strategy:
      blueGreen: { bake: 20s, watch: 0s, keepPreviousWarm: 1m }
    analysis:
      rules:
        - { name: errors, metric: errorRate, above: 10%, for: 2s, minSample: 20, severity: P0 }
    verify: ${verify}
notifications:
  - type: webhook
    url: ${hook}
`;

async function rollBackBadV2(h: Harness): Promise<IncidentView> {
  await waitFor('v1 serving', async () => (await fetch(h.appUrl)).headers.get('x-shop-version') === 'v1');
  // v2 fails half its requests from its start: /dev/null always exists.
  const r = await h.cli('deploy', 'shop', '--version', 'v2', '--env', 'SHOP_ERROR_FILE=/dev/null', '--wait');
  assert.equal(r.code, 2, r.stdout + r.stderr);
  return waitFor(
    'the incident verifying',
    async () => {
      const [incident] = (await (await h.fetch(`${h.apiUrl}/api/v1/incidents`)).json()) as IncidentView[];
      return incident?.status === 'Verifying' ? incident : undefined;
    },
    30_000,
  );
}

describe('a restored revision that fails 20 s after the switch', () => {
  let h: Harness;
  let hook: Awaited<ReturnType<typeof receiver>>;
  const errorFile = join(mkdtempSync(join(tmpdir(), 'rewind-watch-')), 'errors');

  before(async () => {
    hook = await receiver();
    h = await startRewind({
      config: config(errorFile, '{ watch: 5m, for: 3s }', hook.url),
    });
  });
  after(async () => {
    await h?.close();
    hook?.server.close();
  });

  test('escalates its incident to P0 and notifies, naming the check', async () => {
    const load = startLoad(`${h.appUrl}/products`, 4);
    try {
      const verifying = await rollBackBadV2(h);
      assert.ok(verifying.watch && verifying.watch.result === null, JSON.stringify(verifying.watch));
      assert.ok(verifying.watch.until > Date.now() + 4 * 60_000);
      const list = await h.cli('incidents');
      assert.match(list.stdout, /Verifying \(\d+m \d+s left\)/);
      await waitFor('the rollback complete notification', async () =>
        hook.got.find((n) => n.type === 'incident.verifying'),
      );
      const opened = hook.got.find((n) => n.type === 'incident.opened');
      assert.match(
        opened?.message ?? '',
        /^URGENT - Rollback in progress - shop \(P0\)\n- Issue: .*\n- Impact: .*\n- Action: rolling back to v1/,
      );

      // Twenty seconds after the switch, the restored v1 starts failing half its requests.
      const restoredAt = verifying.rollback.trafficRestoredAt!;
      await waitFor('20 s after the switch', async () => Date.now() >= restoredAt + 20_000, 30_000);
      writeFileSync(errorFile, '');
      const broke = Date.now();
      const escalated = await waitFor(
        'the incident escalated',
        async () => {
          const [incident] = (await (await h.fetch(`${h.apiUrl}/api/v1/incidents`)).json()) as IncidentView[];
          return incident?.status === 'Escalated' ? incident : undefined;
        },
        30_000,
      );
      assert.equal(escalated.severity, 'P0');
      assert.equal(escalated.watch?.result, 'Failed');
      const failed = escalated.verification?.checks.find((c) => !c.passed && !c.notChecked);
      assert.equal(failed?.name, 'error rate below 1%');
      const note = await waitFor('the escalation notification', async () =>
        hook.got.find((n) => n.type === 'incident.escalated'),
      );
      assert.match(note.message, /^ESCALATED to P0 - shop: .*\n- Failed: error rate below 1%: /);
      // At once, not at the end of the 5-minute watch: the breach counts after `for` (3 s).
      assert.ok(
        escalated.verification!.at < escalated.watch!.until,
        `escalated ${escalated.verification!.at - broke} ms after the failure began, before the watch's end`,
      );
    } finally {
      await load.stop();
    }
  });
});

describe('a restored revision that holds', () => {
  let h: Harness;
  let hook: Awaited<ReturnType<typeof receiver>>;

  before(async () => {
    hook = await receiver();
    h = await startRewind({
      config: config(
        join(mkdtempSync(join(tmpdir(), 'rewind-watch-')), 'never'),
        '{ watch: 8s, for: 3s }',
        hook.url,
      ),
    });
  });
  after(async () => {
    await h?.close();
    hook?.server.close();
  });

  test('resolves its incident when the watch ends, the checklist held', async () => {
    const load = startLoad(`${h.appUrl}/products`, 4);
    try {
      const verifying = await rollBackBadV2(h);
      const resolved = await waitFor(
        'the incident resolved',
        async () => {
          const r = (await (
            await h.fetch(`${h.apiUrl}/api/v1/incidents/${verifying.id}`)
          ).json()) as IncidentView;
          return r.status === 'Resolved' ? r : undefined;
        },
        30_000,
      );
      assert.equal(resolved.watch?.result, 'Passed');
      const checks = Object.fromEntries(resolved.verification!.checks.map((c) => [c.name, c.passed]));
      assert.equal(checks['error rate below 1%'], true);
      assert.equal(checks['p95 latency below 2s'], true);
      // The watch's seconds of the restored revision joined the incident's evidence.
      const restored = resolved.evidence?.series.revisions.find((r) => r.role === 'restored');
      const lastWatched = Math.floor((resolved.watch!.until - 2000) / 1000);
      assert.ok(
        restored?.points.some((p) => p.second >= lastWatched && p.requests > 0),
        `restored points up to ${restored?.points.at(-1)?.second}, watch until ${lastWatched}`,
      );
      await waitFor('the resolved notification', async () =>
        hook.got.find((n) => n.type === 'incident.resolved'),
      );
    } finally {
      await load.stop();
    }
  });
});
