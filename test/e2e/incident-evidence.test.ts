// Story: a rollback keeps its evidence. Given the shop at v1 with a secret API token, when v3 fails
// 90% of its requests in a canary and logs each failure (with the token, carelessly), then it is
// rolled back, and its incident keeps v3's last log lines with the token redacted, both revisions'
// per-second series around the decision, what v3 changed and the rule's numbers; the report draws
// them as an inline SVG chart and quotes the lines.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import type { Incident } from '../../src/features/incidents/incident.ts';
import { type Harness, oneShopConfig, startLoad, startRewind, waitFor } from '../support/rewind-harness.ts';

const SECRET = `tok-${randomBytes(8).toString('hex')}`;

const config = (appPort: number) =>
  oneShopConfig(
    appPort,
    `    strategy:
      canary:
        steps: [ { setWeight: 50 }, { pause: 8s }, { setWeight: 100 } ]
        bake: 200ms
        keepPreviousWarm: 1m
    analysis:
      canaryJudgment: { enabled: false }
      rules:
        - { name: errors-critical, metric: errorRate, above: 0.5, for: 1s, minSample: 20, severity: P0 }
`,
  );

let h: Harness;

before(async () => {
  h = await startRewind({ config, env: { REWIND_SECRETS_KEY: randomBytes(32).toString('base64') } });
  await waitFor('v1', async () => (await fetch(h.appUrl)).headers.get('x-shop-version') === 'v1');
  const set = await h.cli('secrets', 'set', 'shop', `SHOP_API_TOKEN=${SECRET}`, '--wait');
  assert.equal(set.code, 0, set.stdout + set.stderr);
});
after(async () => {
  await h?.close();
});

test('given v1 with a secret token, when a v3 canary fails 90% and logs it, then its incident keeps the evidence and the report draws it', async () => {
  const load = startLoad(`${h.appUrl}/products`, 4);
  const deploy = await h.cli(
    'deploy',
    'shop',
    '--version',
    'v3',
    '--env',
    'SHOP_ERROR_RATE=0.9',
    '--env',
    'SHOP_LOG_ERRORS=leaky',
    '--wait',
  );
  assert.equal(deploy.code, 2, deploy.stdout + deploy.stderr);

  const incident = await waitFor(
    'the incident with its evidence',
    async () => {
      const [latest] = (await (await h.fetch(`${h.apiUrl}/api/v1/incidents?app=shop`)).json()) as Incident[];
      if (!latest || latest.status === 'Open') return undefined;
      return (await (await h.fetch(`${h.apiUrl}/api/v1/incidents/${latest.id}`)).json()) as Incident;
    },
    30_000,
  );
  // Users went on calling through the rollback and its verification.
  await load.stop();
  const json = JSON.stringify(incident);
  assert.ok(!json.includes(SECRET), 'the secret is nowhere in the incident');
  const evidence = incident.evidence!;
  assert.ok(evidence, 'the incident keeps evidence');
  assert.deepEqual([incident.revisions.to.number, incident.revisions.from?.number], [3, 2]);

  // v3's last lines, from where `rewind logs` reads them, bounded, the token redacted.
  const logs = evidence.logs!;
  assert.equal(logs.revision, 3);
  const failures = logs.lines.filter((l) => l.line.includes('injected failure'));
  assert.ok(failures.length > 0, JSON.stringify(logs.lines.slice(-3)));
  assert.ok(
    failures.every((l) => l.line.includes('api token [redacted]')),
    failures[0]?.line,
  );
  assert.ok(logs.redacted >= failures.length);
  assert.ok(logs.lines.every((l) => l.instance.startsWith('shop/3/')));
  assert.ok(logs.lines.length <= 200 * 1 && logs.limits.logBytes === 64 * 1024);

  // Both revisions, second by second, before and after the decision.
  const decidedAt = evidence.decision!.at!;
  assert.equal(evidence.decision!.event, 'analysis.decision');
  assert.equal(evidence.decision!.rule?.name, 'errors-critical');
  assert.ok((evidence.decision!.sample ?? 0) >= 20, JSON.stringify(evidence.decision));
  const [bad, restored] = evidence.series.revisions;
  assert.deepEqual([bad!.revision, bad!.role, restored!.revision, restored!.role], [3, 'bad', 2, 'restored']);
  assert.ok(
    bad!.points.some((p) => (p.errorRate ?? 0) > 0.5 && p.second * 1000 < decidedAt),
    JSON.stringify(bad!.points),
  );
  const decisionSecond = Math.floor(decidedAt / 1000);
  assert.ok(restored!.points.some((p) => p.second < decisionSecond && p.requests > 0));
  assert.ok(restored!.points.some((p) => p.second > decisionSecond && p.requests > 0));
  assert.ok(restored!.points.every((p) => p.p99 === null || p.p99 >= 0));

  // What v3 changed from revision 2: its version and env; the secret did not change.
  assert.deepEqual(
    evidence.diff!.changes.map((c) => [c.kind, c.key, c.change, c.to]),
    [
      ['version', 'version', 'changed', 'v3'],
      ['env', 'SHOP_ERROR_RATE', 'added', '0.9'],
      ['env', 'SHOP_LOG_ERRORS', 'added', 'leaky'],
      ['env', 'SHOP_VERSION', 'changed', 'v3'],
    ],
  );

  // The list stays light: the evidence is in the incident itself.
  const list = (await (await h.fetch(`${h.apiUrl}/api/v1/incidents`)).json()) as Incident[];
  assert.equal(list[0]!.evidence, undefined);

  const report = await h.cli('incidents', 'show', incident.id);
  assert.equal(report.code, 0, report.stderr);
  const md = report.stdout;
  assert.ok(!md.includes(SECRET));
  assert.match(md, /\n## Evidence\n/);
  assert.match(md, /\n\n<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"[\s\S]*?\n<\/svg>\n\n/);
  assert.match(md, />threshold 50%</);
  assert.match(md, />decision \d\d:\d\d:\d\d</);
  assert.match(md, /^### Changes from v1 \(revision 2\) to v3 \(revision 3\)$/m);
  assert.match(
    md,
    /^```text\n[\s\S]*shop\/3\/\d stderr: shop v3: 500 GET \/products: injected failure \(payments called with api token \[redacted\]\)$/m,
  );
});
