// Story: rules marked `watch: always` keep watching the stable revision after its rollout, bake and
// post-deploy watch are over. A feature switched on later breaks and its kill-switch rule turns it
// off again; a revision whose health fails later is rolled back to the previous one (still warm).
// The watch is shortened to 1s so that "later" is seconds, not an hour.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type Harness, oneShopConfig, startLoad, startRewind, waitFor } from '../support/rewind-harness.ts';

let h: Harness;

const config = (port: number) =>
  oneShopConfig(
    port,
    `    strategy:
      blueGreen:
        bake: 300ms
        watch: 1s
        keepPreviousWarm: 10m
        drainTimeout: 1s
    analysis:
      interval: 1s
      rules:
        - { name: recs-errors, metric: errorRate, above: 10%, for: 1s, minSample: 20, severity: P1, flag: recommendations, watch: always }
        - { name: sick, metric: healthFailing, for: 1s, severity: P0, watch: always }
`,
  );

interface Rollout {
  id: string;
  kind: string;
  phase: string;
  toRevision: number;
  state: { watch?: { status: string } | null };
}
interface Incident {
  id: string;
  title: string;
  rolloutId: string | null;
  trigger: { rule?: string; phase?: string };
  partialRollback?: { flag: string } | null;
}

const get = async <T>(path: string): Promise<T> =>
  (await (await h.fetch(`${h.apiUrl}/api/v1${path}`)).json()) as T;
const stableVersion = async () => (await get<{ stableVersion: string | null }>('/apps/shop')).stableVersion;

/** Deploys `version` with `env`, and waits until its post-deploy watch has passed. */
async function deployAndOutlastTheWatch(version: string, ...env: string[]): Promise<Rollout> {
  const args = env.flatMap((e) => ['--env', e]);
  const r = await h.cli('deploy', 'shop', '--version', version, ...args, '--wait', '--json');
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const id = (JSON.parse(r.stdout) as { id: string }).id;
  return waitFor(`the watch of ${version} to pass`, async () => {
    const rollout = await get<Rollout>(`/rollouts/${id}`);
    return rollout.state.watch?.status === 'Passed' && rollout;
  });
}

before(async () => {
  h = await startRewind({ config });
  await waitFor('v1 serving', async () => (await fetch(h.appUrl).catch(() => null))?.ok);
  const file = join(h.dir, 'flags.json');
  writeFileSync(
    file,
    JSON.stringify({
      flags: {
        recommendations: { state: 'DISABLED', variants: { on: true, off: false }, defaultVariant: 'on' },
      },
    }),
  );
  const set = await h.cli('flags', 'set', 'shop', '--file', file, '--reason', 'ships dark');
  assert.equal(set.code, 0, set.stderr);
});
after(() => h?.close());

test('a feature switched on after the watch breaks: the always-watching kill-switch rule turns it off', async () => {
  const v2 = await deployAndOutlastTheWatch('v2', 'SHOP_RECOMMENDATIONS_ERROR_RATE=0.5');
  // rewind status shows the steady-state watch once the post-deploy watch is over.
  const steady = await waitFor('the steady-state watch in rewind status', async () => {
    const s = JSON.parse((await h.cli('status', 'shop', '--json')).stdout) as {
      watch: unknown;
      steadyWatch: { revision: number; rules: { name: string; phase: string }[] } | null;
    };
    return s.watch === null && s.steadyWatch?.rules.length === 2 ? s.steadyWatch : undefined;
  });
  assert.equal(steady.revision, v2.toRevision);
  assert.deepEqual(
    steady.rules.map((r) => r.name),
    ['recs-errors', 'sick'],
  );
  assert.match(
    (await h.cli('status', 'shop')).stdout,
    new RegExp(
      `steady-state watch: revision ${v2.toRevision}, rules marked watch: always\n  rule recs-errors: `,
    ),
  );
  const known = new Set((await get<Incident[]>('/incidents?app=shop')).map((i) => i.id));
  const load = startLoad(`${h.appUrl}/products`, 4);
  try {
    const on = await h.cli('flags', 'enable', 'shop', 'recommendations', '--reason', 'launch');
    assert.equal(on.code, 0, on.stderr);
    const incident = await waitFor(
      'the kill switch',
      async () => (await get<Incident[]>('/incidents?app=shop')).find((i) => !known.has(i.id)),
      30_000,
    );
    assert.equal(incident.partialRollback?.flag, 'recommendations');
    assert.equal(incident.trigger.rule, 'recs-errors');
    assert.equal(incident.rolloutId, v2.id, "journalled with the app's newest rollout, v2's deploy");
    assert.match(incident.trigger.phase ?? '', /steady-state watch of revision \d+/);
  } finally {
    await load.stop();
  }
  const flags = JSON.parse((await h.cli('flags', 'list', 'shop', '--json')).stdout);
  assert.equal(flags.flags.recommendations.state, 'DISABLED');
  assert.equal(await stableVersion(), 'v2', 'a partial rollback: the release stays');
});

test('a stable revision whose health fails after the watch is rolled back to the previous one', async () => {
  const sick = join(h.dir, 'sick');
  await deployAndOutlastTheWatch('v3', `SHOP_HEALTH_FAIL_FILE=${sick}`);
  assert.equal(await stableVersion(), 'v3');
  const known = new Set((await get<Incident[]>('/incidents?app=shop')).map((i) => i.id));
  writeFileSync(sick, '');
  await waitFor('v2 stable again', async () => (await stableVersion()) === 'v2', 30_000);
  await waitFor('v2 serving', async () => (await fetch(h.appUrl)).headers.get('x-shop-version') === 'v2');
  const incident = await waitFor('the incident', async () =>
    (await get<Incident[]>('/incidents?app=shop')).find((i) => !known.has(i.id)),
  );
  assert.equal(incident.trigger.rule, 'sick');
  assert.match(incident.trigger.phase ?? '', /steady-state watch of revision \d+/);
  const rollouts = await get<Rollout[]>('/apps/shop/rollouts?limit=1');
  assert.equal(rollouts[0]?.kind, 'rollback');
});
