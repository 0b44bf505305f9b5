// The story of maintenance mode with the real server, agent, proxy, app processes and CLI: under
// load, every response is 200, then 503 with Retry-After and the page once `rewind maintenance on`
// answers, then 200 again once `off` answers, with no failed connection; Rewind's health checks go
// to the instances and are not affected; the state survives a SIGKILLed controller and agent; a
// rollback that has to start its target cold turns it on and off by itself under maintenance: auto.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { alive, type Harness, shopConfig, sleep, startRewind, waitFor } from '../support/rewind-harness.ts';

interface Reply {
  readonly loop: number;
  readonly sentAt: number;
  readonly status: number;
  readonly retryAfter: string | null;
  readonly version: string | null;
  /** The body of a reply that is not a 200. */
  readonly body: string;
  readonly error: string | null;
}

/** Keep-alive GET loops that keep every reply, in order per loop. */
function recordLoad(url: string, loops = 4) {
  const replies: Reply[] = [];
  let running = true;
  const runs = Array.from({ length: loops }, async (_, loop) => {
    while (running) {
      const sentAt = Date.now();
      try {
        const res = await fetch(url);
        const body = await res.text();
        replies.push({
          loop,
          sentAt,
          status: res.status,
          retryAfter: res.headers.get('retry-after'),
          version: res.headers.get('x-shop-version'),
          body: res.status === 200 ? '' : body,
          error: null,
        });
      } catch (err) {
        const error = String((err as Error & { cause?: Error }).cause ?? err);
        replies.push({ loop, sentAt, status: 0, retryAfter: null, version: null, body: '', error });
        await sleep(5);
      }
    }
  });
  return {
    replies,
    /** Whether every loop got at least `n` replies matching `match` sent at or after `from`. */
    each: (n: number, from: number, match: (r: Reply) => boolean) =>
      Array.from({ length: loops }, (_, loop) => loop).every(
        (loop) => replies.filter((r) => r.loop === loop && r.sentAt >= from && match(r)).length >= n,
      ),
    async stop() {
      running = false;
      await Promise.all(runs);
      return replies;
    },
  };
}

interface AppStatus {
  stableRevision: number | null;
  activeRollout: { id: string } | null;
  maintenance?: {
    source: string;
    by: string;
    reason: string | null;
    page: string;
    rolloutId: string | null;
  } | null;
  instances: { revision: number; phase: string; health: string; port: number; restarts: number }[];
}

describe('maintenance mode by hand', () => {
  let h: Harness;
  const status = async () => (await (await h.fetch(`${h.apiUrl}/api/v1/apps/shop`)).json()) as AppStatus;
  const post = (body: unknown) =>
    h.fetch(`${h.apiUrl}/api/v1/apps/shop/maintenance`, { method: 'POST', body: JSON.stringify(body) });

  before(async () => {
    h = await startRewind();
    await waitFor('v1 to serve', async () => (await fetch(`${h.appUrl}/`)).status === 200);
  });
  after(async () => {
    await h?.close();
  });

  test('given shop at v1 under load, when maintenance is on then off, every reply is 200, then 503 with Retry-After and the page, then 200', async () => {
    const load = recordLoad(`${h.appUrl}/products`);
    try {
      await waitFor('200s before', async () => load.each(5, 0, (r) => r.status === 200));
      const onAsked = Date.now();
      const on = await h.cli(
        'maintenance',
        'on',
        'shop',
        '--retry-after',
        '90s',
        '--reason',
        'planned restore',
      );
      const onAnswered = Date.now();
      assert.equal(on.code, 0, on.stderr);
      assert.match(
        on.stdout,
        /^maintenance mode of shop is on: every request gets 503 with the default page, Retry-After 90s \(in force at [\d:.]+\)\nturn it off with: rewind maintenance off shop\n$/,
      );
      await waitFor('503s', async () => load.each(5, onAnswered, (r) => r.status === 503));

      // Rewind's health checks go to the instances, not through the proxy: they still pass.
      const s = await status();
      assert.equal(s.maintenance?.by, 'admin');
      assert.equal(s.maintenance?.reason, 'planned restore');
      const serving = s.instances.filter((i) => i.revision === s.stableRevision && i.phase === 'Running');
      assert.equal(serving.length, 2);
      for (const i of serving) {
        assert.equal(i.health, 'Healthy');
        assert.equal((await fetch(`http://127.0.0.1:${i.port}/healthz`)).status, 200);
      }
      assert.equal((await fetch(`${h.appUrl}/healthz`)).status, 503, 'through the proxy: the page');
      const shown = await h.cli('status', 'shop');
      assert.match(
        shown.stdout,
        /\nMAINTENANCE: on since .* by admin: every request gets 503 with the default page, Retry-After 90s\n {2}reason: planned restore\n/,
      );

      const offAsked = Date.now();
      const off = await h.cli('maintenance', 'off', 'shop', '--reason', 'restore done');
      const offAnswered = Date.now();
      assert.equal(off.code, 0, off.stderr);
      assert.match(off.stdout, /^maintenance mode of shop is off: it serves again/);
      await waitFor('200s after', async () => load.each(5, offAnswered, (r) => r.status === 200));
      const replies = await load.stop();

      assert.deepEqual(replies.filter((r) => r.error !== null).slice(0, 3), [], 'no failed connection');
      assert.deepEqual([...new Set(replies.map((r) => r.status))].sort(), [200, 503], 'no other status');
      const sentBetween = (from: number, to: number) =>
        replies.filter((r) => r.sentAt >= from && r.sentAt < to);
      assert.ok(sentBetween(0, onAsked).every((r) => r.status === 200));
      assert.ok(sentBetween(onAnswered, offAsked).every((r) => r.status === 503));
      assert.ok(sentBetween(offAnswered, Number.POSITIVE_INFINITY).every((r) => r.status === 200));
      const unavailable = replies.filter((r) => r.status === 503);
      assert.ok(unavailable.every((r) => r.retryAfter === '90'));
      assert.ok(unavailable.every((r) => r.body.includes('<h1>shop is down for maintenance</h1>')));
      assert.equal(unavailable[0]!.version, null, 'answered by the proxy, not the app');
    } finally {
      await load.stop();
    }

    // The events and the audit trail say who did what, and why.
    const events = (await (await h.fetch(`${h.apiUrl}/api/v1/apps/shop/events`)).json()) as {
      type: string;
      message: string;
    }[];
    assert.deepEqual(
      events.filter((e) => e.type.startsWith('maintenance.')).map((e) => e.message),
      [
        'maintenance mode on (by admin): every request is answered 503 with the default page, Retry-After 90 seconds; reason: planned restore',
        'maintenance mode off (by admin): restore done; the app serves again',
      ],
    );
    const audit = JSON.parse((await h.cli('audit', '--app', 'shop', '--json')).stdout) as {
      entries: { actor: string; route: string; outcome: string; status: number; reason: string }[];
    };
    assert.deepEqual(
      audit.entries
        .filter((e) => e.route === '/api/v1/apps/:app/maintenance')
        .map(({ actor, outcome, status, reason }) => ({ actor, outcome, status, reason })),
      [
        { actor: 'admin', outcome: 'allowed', status: 200, reason: 'maintenance on: planned restore' },
        { actor: 'admin', outcome: 'allowed', status: 200, reason: 'maintenance off: restore done' },
      ],
    );
  });

  test('a page of your own is served as given, through a SIGKILLed controller and a SIGKILLed agent', async () => {
    const page = '<!doctype html><title>Shop</title><p>Inventory in progress: back at 14:00. Ünïcode ✓</p>\n';
    const file = join(h.dir, 'down.html');
    writeFileSync(file, page);
    const on = await h.cli('maintenance', 'on', 'shop', '--page', file, '--json');
    assert.equal(on.code, 0, on.stderr);
    const answer = JSON.parse(on.stdout) as { on: boolean; changed: boolean; maintenance: { page: string } };
    assert.deepEqual([answer.on, answer.changed, answer.maintenance.page], [true, true, 'custom']);
    const served = async () => {
      const r = await fetch(`${h.appUrl}/`);
      return { status: r.status, retryAfter: r.headers.get('retry-after'), body: await r.text() };
    };
    const expected = { status: 503, retryAfter: '60', body: page };
    assert.deepEqual(await served(), expected);

    // The controller dies: the agent serves on; the restarted controller puts the same page in force.
    await h.kill('SIGKILL');
    assert.deepEqual(await served(), expected);
    await h.restart();
    assert.equal((await status()).maintenance?.page, 'custom');
    // The agent dies (the proxy with it): the new one serves the page again.
    const agentPid = Number(readFileSync(join(h.dataDir, 'agent.pid'), 'utf8'));
    process.kill(agentPid, 'SIGKILL');
    await waitFor('the agent to die', async () => !alive(agentPid));
    await waitFor(
      'the page served again',
      async () => (await served().catch(() => null))?.body === page,
      30_000,
    );
    assert.deepEqual(await served(), expected);
    await waitFor(
      'v1 up again',
      async () => (await status()).instances.some((i) => i.phase === 'Running' && i.health === 'Healthy'),
      30_000,
    );
    assert.deepEqual(await served(), expected, 'the instances are back, the page stays');

    assert.equal((await h.cli('maintenance', 'off', 'shop')).code, 0);
    assert.equal((await served()).status, 200);
    const again = await h.cli('maintenance', 'off', 'shop');
    assert.equal(again.code, 0);
    assert.equal(again.stdout, 'maintenance mode of shop was off already\n');
  });

  test('a bad request is refused naming the field, the value and the fix, and changes nothing', async () => {
    const table: [unknown, RegExp][] = [
      [{}, /^on: missing; send on: true to turn maintenance mode on, on: false to turn it off$/],
      [{ on: 'yes' }, /^on: "yes" is not true or false; send on: true/],
      [
        { on: true, retryAfterSeconds: 0 },
        /^retryAfterSeconds: 0 is not a whole number of seconds from 1 to 86400; give for example 60$/,
      ],
      [{ on: true, retryAfterSeconds: 1.5 }, /^retryAfterSeconds: 1.5 is not a whole number/],
      [{ on: true, page: '' }, /^page: the page is empty/],
      [
        { on: true, page: 'x'.repeat(300 * 1024) },
        /^page: the page is 300 KiB, over the 256 KiB limit; inline less/,
      ],
      [
        { on: false, page: '<p>x</p>' },
        /^page: only for turning maintenance mode on; drop it, or send on: true$/,
      ],
      [{ on: true, color: 'red' }, /^body: unknown field\(s\) color$/],
    ];
    for (const [body, message] of table) {
      const r = await post(body);
      const answer = (await r.json()) as { error: { code: string; message: string } };
      assert.equal(r.status, 400, JSON.stringify(body).slice(0, 80));
      assert.equal(answer.error.code, 'VALIDATION_FAILED');
      assert.match(answer.error.message, message);
    }
    assert.equal((await status()).maintenance, null);
    assert.equal((await fetch(`${h.appUrl}/`)).status, 200);

    const cli: [string[], RegExp][] = [
      [
        ['maintenance', 'on', 'shop', '--page', join(h.dir, 'missing.html')],
        /--page: cannot read .*missing\.html \(ENOENT\); give the path of an HTML file/,
      ],
      [
        ['maintenance', 'on', 'shop', '--retry-after', 'soon'],
        /--retry-after takes whole seconds from 1s to 24h, such as 60s, 5m or 1h; got "soon"/,
      ],
      [['maintenance', 'on', 'nope'], /no app named "nope"; known apps: shop/],
    ];
    const big = join(h.dir, 'big.html');
    writeFileSync(big, 'x'.repeat(257 * 1024));
    cli.push([
      ['maintenance', 'on', 'shop', '--page', big],
      /--page .*big\.html: the page is 257 KiB, over the 256 KiB limit/,
    ]);
    for (const [args, message] of cli) {
      const r = await h.cli(...args);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stdout}`);
      assert.match(r.stderr, message);
    }
    assert.equal((await status()).maintenance, null);
  });
});

describe('maintenance: auto around a cold rollback', () => {
  let h: Harness;
  const status = async () => (await (await h.fetch(`${h.apiUrl}/api/v1/apps/shop`)).json()) as AppStatus;
  // Nothing keeps the previous revision warm: a rollback has to start it again. Its pre-promotion
  // check (GET /products, forced to the revision) runs again in the verification, through the page.
  const coldConfig = (port: number) =>
    `${shopConfig(port).replace('keepPreviousWarm: 1m', 'keepPreviousWarm: 0s')}    maintenance: auto\n`;

  before(async () => {
    h = await startRewind({ config: coldConfig });
    await waitFor(
      'v1 to serve',
      async () => (await fetch(`${h.appUrl}/`)).headers.get('x-shop-version') === 'v1',
    );
  });
  after(async () => {
    await h?.close();
  });

  test('given v2 stable and v1 stopped, a rollback answers 503 with the page while v1 starts and is verified, then v1 serves', async () => {
    const deployed = await h.cli('deploy', 'shop', '--version', 'v2', '--wait');
    assert.equal(deployed.code, 0, deployed.stderr + deployed.stdout);
    await waitFor('v1 stopped', async () => {
      const s = await status();
      return s.instances.filter((i) => i.revision === 1).every((i) => i.phase === 'Stopped');
    });

    const load = recordLoad(`${h.appUrl}/products`);
    let replies: Reply[];
    try {
      await waitFor('v2 answers', async () => load.each(3, 0, (r) => r.version === 'v2'));
      const r = await h.cli('rollback', 'shop', '--reason', 'v2 corrupts carts', '--no-wait', '--json');
      assert.equal(r.code, 0, r.stderr + r.stdout);
      const rollback = JSON.parse(r.stdout) as { id: string };
      // On before the rollback was answered: v1 has not started yet.
      const during = await status();
      assert.equal(during.maintenance?.source, 'auto');
      assert.equal(during.maintenance?.rolloutId, rollback.id);
      await waitFor(
        'maintenance off after the verification',
        async () => (await status()).maintenance === null,
        30_000,
      );
      const offAt = Date.now();
      await waitFor('v1 answers', async () => load.each(3, offAt, (x) => x.version === 'v1'));
      replies = await load.stop();

      const events = (await (await h.fetch(`${h.apiUrl}/api/v1/rollouts/${rollback.id}/events`)).json()) as {
        type: string;
        message: string;
      }[];
      const types = events.map((e) => e.type);
      assert.match(
        events.find((e) => e.type === 'maintenance.on')!.message,
        /^maintenance mode on \(maintenance: auto\): revision 1 needs a cold start: every request is answered 503 with the default page/,
      );
      assert.ok(types.indexOf('maintenance.on') < types.indexOf('traffic.switched'), types.join(', '));
      assert.ok(types.indexOf('rollout.verified') < types.indexOf('maintenance.off'), types.join(', '));
      const [incident] = (await (await h.fetch(`${h.apiUrl}/api/v1/incidents`)).json()) as {
        status: string;
        timeline: { event: string }[];
        verification: { checks: { name: string; passed: boolean }[] };
      }[];
      assert.equal(incident?.status, 'Verifying', 'verified at the switch, then watched (verify.watch)');
      const checks = incident!.verification.checks;
      assert.ok(
        checks.some((c) => /products/.test(c.name) && c.passed),
        JSON.stringify(checks),
      );
      const timeline = incident!.timeline.map((t) => t.event);
      assert.ok(
        timeline.includes('Maintenance mode on') && timeline.includes('Maintenance mode off'),
        timeline.join(', '),
      );
    } finally {
      await load.stop();
    }
    assert.deepEqual(replies.filter((x) => x.error !== null).slice(0, 3), [], 'no failed connection');
    // v2, then the page, then v1: no reply of v2 once the page was served, no other status.
    assert.deepEqual([...new Set(replies.map((x) => x.status))].sort(), [200, 503], 'no other status');
    const sent = (match: (x: Reply) => boolean) => replies.filter(match).map((x) => x.sentAt);
    const pages = replies.filter((x) => x.status === 503);
    assert.ok(pages.length > 0 && pages.every((x) => x.body.includes('shop is down for maintenance')));
    // Each proxy worker swaps its table on its own message: allow their skew, well under a phase.
    const skew = 50;
    assert.ok(
      Math.max(...sent((x) => x.version === 'v2')) <= Math.min(...sent((x) => x.status === 503)) + skew,
    );
    assert.ok(
      Math.max(...sent((x) => x.status === 503)) <= Math.min(...sent((x) => x.version === 'v1')) + skew,
    );
  });
});
