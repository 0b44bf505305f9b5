// The story of a blue-green release under Rewind, told with the real server, agent, proxy, app
// processes and CLI.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Harness, startLoad, startRewind, waitFor } from '../support/rewind-harness.ts';

interface Rollout {
  id: string;
  phase: string;
  toRevision: number;
  fromRevision: number | null;
  error: string | null;
}

describe('blue-green with examples/shop', () => {
  let h: Harness;
  const versionServed = async () => (await fetch(`${h.appUrl}/`)).headers.get('x-shop-version');
  /** A start that waits until released: the deploy stays in progress however loaded the machine. */
  const holdStart = () => {
    const file = join(h.dir, `hold-${randomUUID()}`);
    writeFileSync(file, '');
    return { env: `SHOP_START_HOLD_FILE=${file}`, release: () => rmSync(file, { force: true }) };
  };

  before(async () => {
    h = await startRewind();
    await waitFor('v1 to serve', async () => (await versionServed()) === 'v1');
  });
  after(async () => {
    await h?.close();
  });

  test('given the app at v1 alone, a rollback has nothing to go back to', async () => {
    const r = await h.cli('rollback', 'shop');
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stderr, /app shop has no revision before 1 to roll back to/);
  });

  test('given the app at v1, when v2 is deployed under load, then v2 serves with zero failed requests', async () => {
    const load = startLoad(`${h.appUrl}/products`);
    const r = await h.cli('deploy', 'shop', '--version', 'v2', '--wait', '--json');
    const stats = await load.stop();
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const rollout = JSON.parse(r.stdout) as Rollout;
    assert.equal(rollout.phase, 'Completed');
    assert.equal(rollout.toRevision, 2);
    assert.equal(await versionServed(), 'v2');
    assert.equal(stats.failed, 0, stats.errors.join('\n'));
    assert.ok(
      (stats.versions.get('v1') ?? 0) > 0 && (stats.versions.get('v2') ?? 0) > 0,
      'load saw both versions',
    );
  });

  test('when rolled back while v1 is warm, then v1 serves again at once and history only grows', async () => {
    const load = startLoad(`${h.appUrl}/products`);
    const started = Date.now();
    const r = await h.cli('rollback', 'shop', '--reason', 'e2e', '--json');
    const took = Date.now() - started;
    const stats = await load.stop();
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const rollout = JSON.parse(r.stdout) as Rollout;
    assert.equal(rollout.phase, 'Completed');
    assert.equal(rollout.toRevision, 3);
    assert.equal(await versionServed(), 'v1');
    assert.equal(stats.failed, 0, stats.errors.join('\n'));
    // "At once": a warm rollback is a traffic switch, with no process to start or wait for (the
    // wall-clock time is bench/switch.ts's to measure, not a loaded test box's).
    const steps = (rollout as Rollout & { state: { steps: { name: string }[] } }).state.steps.map(
      (x) => x.name,
    );
    assert.ok(
      !steps.includes('startRevision') && steps.includes('switchTraffic'),
      `${steps} (took ${took} ms)`,
    );
    // The switch event says when the proxy had the table: after the command, before the event.
    const events = (await (await h.fetch(`${h.apiUrl}/api/v1/rollouts/${rollout.id}/events`)).json()) as {
      type: string;
      at: number;
      data: { inForceAt?: number } | null;
    }[];
    const switched = events.find((e) => e.type === 'traffic.switched');
    const inForceAt = switched?.data?.inForceAt;
    assert.ok(
      typeof inForceAt === 'number' && inForceAt >= started && inForceAt <= switched!.at + 1,
      JSON.stringify(switched),
    );
    const incidents = await waitFor('the rollback incident to be verified', async () => {
      const list = JSON.parse((await h.cli('incidents', '--json')).stdout) as {
        id: string;
        status: string;
        severity: string;
      }[];
      return list.length === 1 && list[0]!.status !== 'Open' && list;
    });
    assert.equal(incidents[0]!.status, 'Verifying', 'verified at the switch, then watched (verify.watch)');
    const report = await h.cli('incidents', 'show', incidents[0]!.id);
    assert.equal(report.code, 0, report.stderr);
    assert.match(report.stdout, /# Incident Report/);
    assert.match(report.stdout, /rolled back by admin: e2e/, "the actor is the token's name");
    assert.match(report.stdout, /## Root Cause\n+_To be written by the team._/);
    const history = JSON.parse((await h.cli('history', 'shop', '--json')).stdout) as {
      number: number;
      version: string;
      copiedFrom: number | null;
      spec: { author: string | null };
    }[];
    assert.deepEqual(
      history.map((x) => [x.number, x.version, x.copiedFrom, x.spec.author]),
      [
        [3, 'v1', 1, 'admin'],
        [2, 'v2', null, 'admin'],
        [1, 'v1', null, null],
      ],
      'who made each revision: the token, or Rewind itself for the initial version',
    );
  });

  test('when v3 crashes at start, then the deploy fails with its last lines and v1 keeps serving', async () => {
    const load = startLoad(`${h.appUrl}/products`);
    const r = await h.cli('deploy', 'shop', '--version', 'v3', '--env', 'SHOP_CRASH_AT_START=1', '--wait');
    const stats = await load.stop();
    assert.equal(r.code, 3, r.stderr + r.stdout);
    assert.match(r.stdout, /crashed at start/);
    assert.match(r.stdout, /SHOP_CRASH_AT_START is set, exiting/);
    assert.equal(stats.failed, 0, stats.errors.join('\n'));
    assert.deepEqual([...stats.versions.keys()], ['v1']);
    const status = JSON.parse((await h.cli('status', 'shop', '--json')).stdout) as {
      stableRevision: number;
      instances: { revision: number; phase: string }[];
    };
    assert.equal(status.stableRevision, 3);
    assert.ok(
      status.instances.every((i) => i.revision !== 4 || i.phase === 'Stopped'),
      JSON.stringify(status.instances),
    );
  });

  test('when v4 never passes its health check, then the deploy fails and traffic never moved', async () => {
    const r = await h.cli('deploy', 'shop', '--version', 'v4', '--env', 'SHOP_HEALTH_FAIL=1', '--wait');
    assert.equal(r.code, 3, r.stderr + r.stdout);
    assert.match(r.stdout, /not healthy within 15s/);
    assert.equal(await versionServed(), 'v1');
  });

  test('when v5 fails its pre-promotion check, then it never takes traffic', async () => {
    const r = await h.cli('deploy', 'shop', '--version', 'v5', '--env', 'SHOP_ERROR_RATE=1', '--wait');
    assert.equal(r.code, 3, r.stderr + r.stdout);
    assert.match(r.stdout, /pre-promotion check GET \/products failed: .* answered 500/);
    assert.equal(await versionServed(), 'v1');
  });

  test('when the command is not found, then the deploy fails and says so', async () => {
    const r = await h.cli('deploy', 'shop', '--version', 'v6', '--env', 'SHOP_NODE=no-such-binary', '--wait');
    assert.equal(r.code, 3, r.stderr + r.stdout);
    assert.match(r.stdout, /not found/);
    assert.equal(await versionServed(), 'v1');
  });

  test('bad input gets a clear error and a non-zero exit, and v1 keeps serving', async () => {
    const table: [string[], number, RegExp][] = [
      [['deploy', 'nope', '--version', 'v2'], 1, /no app named "nope"; known apps: shop/],
      [['rollback', 'shop', '--to-revision', '99'], 1, /has no revision 99/],
      [['rollback', 'shop', '--to-revision', '3'], 1, /is what app shop serves already/],
      [['deploy', 'shop', '--version', 'v2;rm -rf /'], 1, /version "v2;rm -rf \/" is not valid/],
      [['deploy', 'shop', '--version', 'v2', '--env', 'NOEQUALS'], 1, /--env takes KEY=VALUE/],
      [['logs', 'shop', '--revision', 'x'], 1, /--revision takes a whole number/],
      [['status', 'nope'], 1, /no app named "nope"/],
    ];
    for (const [args, code, message] of table) {
      const r = await h.cli(...args);
      assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message, args.join(' '));
    }
    assert.equal(await versionServed(), 'v1');
  });

  test('two deploys of one app at once: the second is refused', async () => {
    // v7 does not start until released, so it is still in progress however long the second CLI takes.
    const hold = holdStart();
    const first = await h.cli('deploy', 'shop', '--version', 'v7', '--env', hold.env, '--json');
    assert.equal(first.code, 0, first.stderr);
    const second = await h.cli('deploy', 'shop', '--version', 'v8');
    hold.release();
    assert.equal(second.code, 5, second.stderr);
    assert.match(second.stderr, /already has a rollout in progress/);
    const id = (JSON.parse(first.stdout) as Rollout).id;
    await waitFor('v7 rollout to end', async () => {
      const r = (await (await h.fetch(`${h.apiUrl}/api/v1/rollouts/${id}`)).json()) as Rollout;
      return r.phase === 'Completed';
    });
  });

  test('a sticky user stays on one version and the force header reaches a standby revision', async () => {
    const seen = new Set<string | null>();
    for (let i = 0; i < 20; i++)
      seen.add(
        (await fetch(`${h.appUrl}/`, { headers: { 'x-user-id': 'alice' } })).headers.get('x-shop-version'),
      );
    assert.equal(seen.size, 1);
    // v1 (revision 3) stays warm after the v7 deploy: a tester can still reach it.
    const forced = await fetch(`${h.appUrl}/`, { headers: { 'x-rewind-revision': '3' } });
    assert.equal(forced.headers.get('x-shop-version'), 'v1');
  });

  test('a rollback during a deploy aborts it: traffic and processes go back, exit 0', async () => {
    const hold = holdStart();
    const deploy = await h.cli('deploy', 'shop', '--version', 'v9', '--env', hold.env, '--json');
    assert.equal(deploy.code, 0, deploy.stderr);
    const r = await h.cli('rollback', 'shop', '--reason', 'changed my mind', '--json');
    hold.release();
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const rollout = JSON.parse(r.stdout) as Rollout;
    assert.equal(rollout.phase, 'RolledBack');
    assert.match(rollout.error ?? '', /aborted: changed my mind/);
    assert.equal(await versionServed(), 'v7');
  });

  test('a rollback to a revision that is no longer running starts it, then switches', async () => {
    const load = startLoad(`${h.appUrl}/products`);
    const r = await h.cli('rollback', 'shop', '--to-revision', '2', '--json');
    const stats = await load.stop();
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.equal((JSON.parse(r.stdout) as Rollout).phase, 'Completed');
    assert.equal(await versionServed(), 'v2');
    assert.equal(stats.failed, 0, stats.errors.join('\n'));
  });

  test('logs, apps and the API documents answer', async () => {
    const logs = await h.cli('logs', 'shop', '--tail', '200');
    assert.equal(logs.code, 0, logs.stderr);
    assert.match(logs.stdout, /listening on 127\.0\.0\.1/);
    const apps = await h.cli('apps');
    assert.match(apps.stdout, /shop/);
    const doc = (await (await h.fetch(`${h.apiUrl}/api/v1/openapi.json`)).json()) as {
      openapi: string;
      paths: object;
    };
    assert.equal(doc.openapi, '3.1.0');
    assert.ok('/apps/{app}/deploy' in doc.paths);
    const metrics = await (await h.fetch(`${h.apiUrl}/metrics`)).text();
    assert.match(metrics, /rewind_api_requests_total/);
    const bad = await h.fetch(`${h.apiUrl}/api/v1/apps/shop/deploy`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"versio":"x"}',
    });
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { error: { code: string } }).error.code, 'VALIDATION_FAILED');
  });
});
