// Rules on what the runtime measures, through real rollouts: a release that writes error lines,
// or that keeps a core busy, is rolled back by its rule; a quiet one completes.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type Harness, oneShopConfig, startRewind, waitFor } from '../support/rewind-harness.ts';

let h: Harness;

const config = (port: number) =>
  oneShopConfig(
    port,
    `    strategy:
      blueGreen:
        bake: 5s
        watch: 0s
        keepPreviousWarm: 1m
        drainTimeout: 1s
    analysis:
      interval: 1s
      canaryJudgment: { enabled: false }
      beforeAfter: { enabled: false }
      rules:
        - { name: log-errors, metric: logErrors, above: 5, for: 1s, severity: P0 }
        - { name: cpu, metric: cpu, above: 5%, for: 2s, severity: P0 } # of the host: low, since a loaded box gives a spinning child a fraction of a core
`,
  );

interface Incident {
  trigger: { kind: string; rule?: string; metric?: string; observed?: number; threshold?: number };
}

before(async () => {
  h = await startRewind({ config });
  await waitFor('v1 serving', async () => (await fetch(h.appUrl).catch(() => null))?.ok);
});
after(() => h?.close());

async function deploy(version: string, ...env: string[]) {
  const r = await h.cli(
    'deploy',
    'shop',
    '--version',
    version,
    ...env.flatMap((e) => ['--env', e]),
    '--wait',
    '--json',
  );
  return { code: r.code, out: r.stdout + r.stderr, json: JSON.parse(r.stdout || '{}') as { error?: string } };
}

async function newestIncident(): Promise<Incident> {
  return waitFor('the incident', async () => {
    const list = (await (await h.fetch(`${h.apiUrl}/api/v1/incidents`)).json()) as Incident[];
    return list[0];
  });
}

test('given v1, when v2 writes 20 error lines a second, then the log-errors rule rolls it back', async () => {
  const r = await deploy('v2', 'SHOP_ERROR_LOGS=20');
  assert.equal(r.code, 2, r.out);
  assert.match(r.json.error ?? '', /P0 rule log-errors: error lines \d+\/min above 5\/min/);
  assert.equal((await fetch(h.appUrl)).headers.get('x-shop-version'), 'v1');
  const incident = await newestIncident();
  assert.equal(incident.trigger.rule, 'log-errors');
  assert.equal(incident.trigger.metric, 'logErrors');
  assert.ok(incident.trigger.observed! > 5, JSON.stringify(incident.trigger));
});

test('given v1, when v3 keeps a core busy in a child process, then the CPU rule rolls it back', async () => {
  const r = await deploy('v3', 'SHOP_BUSY_CPU=1');
  assert.equal(r.code, 2, r.out);
  assert.match(r.json.error ?? '', /P0 rule cpu: CPU \d+(\.\d+)?% above 5%/);
  assert.equal((await fetch(h.appUrl)).headers.get('x-shop-version'), 'v1');
  assert.equal((await newestIncident()).trigger.rule, 'cpu');
});

test('given v1, when v4 is quiet, then it completes under the same rules', async () => {
  const r = await deploy('v4');
  assert.equal(r.code, 0, r.out);
  assert.equal((await fetch(h.appUrl)).headers.get('x-shop-version'), 'v4');
  const status = await h.cli('status', 'shop');
  assert.equal(status.code, 0, status.stderr);
});
