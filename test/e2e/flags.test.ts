// Story: the shop reads the flag `recommendations` through OpenFeature from Rewind's OFREP
// endpoint. Flags change as versions; a broken feature is switched off (by hand, then by a
// kill-switch rule during a rollout) while the release stays; each switch opens an incident.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { OFREPProvider } from '@openfeature/ofrep-provider';
import { OpenFeature } from '@openfeature/server-sdk';
import { type Harness, shopConfig, startLoad, startRewind, waitFor } from '../support/rewind-harness.ts';

let h: Harness;

/** The shop with a kill-switch rule on errors of the recommendations feature. */
const config = (port: number) =>
  `${shopConfig(port, { bake: '8s', checks: false })}    analysis:
      interval: 1s
      rules:
        - { name: recommendations-errors, metric: errorRate, above: 10%, for: 1s, minSample: 20, severity: P1, flag: recommendations }
`;

const products = async (user = 'u1') =>
  (await fetch(`${h.appUrl}/products`, { headers: { 'x-user-id': user } })).json() as Promise<{
    recommendations?: unknown[];
  }>;

const flagSet = {
  flags: {
    recommendations: {
      state: 'ENABLED',
      variants: { on: true, off: false },
      defaultVariant: 'on',
    },
    theme: {
      state: 'ENABLED',
      variants: { light: 'light', dark: 'dark' },
      defaultVariant: 'light',
      targeting: { if: [{ starts_with: [{ var: 'email' }, 'ops@'] }, 'dark', null] },
    },
  },
};

before(async () => {
  h = await startRewind({ config });
  await waitFor('v1 serving', async () => (await fetch(h.appUrl).catch(() => null))?.ok);
});
after(() => h?.close());

test('flags set, list, history; the shop sees a change on its next request', async () => {
  assert.equal((await products()).recommendations, undefined, 'no flag set yet: code default off');
  const file = join(h.dir, 'flags.json');
  writeFileSync(file, JSON.stringify(flagSet));
  const set = await h.cli(
    'flags',
    'set',
    'shop',
    '--file',
    file,
    '--reason',
    'launch recommendations',
    '--json',
  );
  assert.equal(set.code, 0, set.stderr);
  assert.equal(JSON.parse(set.stdout).version, 1);
  assert.ok((await products()).recommendations, 'the shop reads the flag through OFREP');
  const list = await h.cli('flags', 'list', 'shop');
  assert.match(list.stdout, /recommendations\s+ENABLED\s+on=true/);
  const history = JSON.parse((await h.cli('flags', 'history', 'shop', '--json')).stdout);
  assert.equal(history[0].reason, 'launch recommendations');
  assert.equal(history[0].author, 'admin', 'the author is the name of the token the CLI sent');
  assert.deepEqual(
    history[0].diff.map((c: { flag: string; change: string }) => `${c.change} ${c.flag}`),
    ['added recommendations', 'added theme'],
  );
});

test('OFREP answers the published protocol: single, bulk with ETag, errors', async () => {
  const base = `${h.apiUrl}/api/v1/apps/shop/ofrep/v1/evaluate/flags`;
  const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
    h.fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
  // biome-ignore lint/suspicious/noExplicitAny: protocol bodies are checked field by field
  const body = (r: Response): Promise<any> => r.json();
  const dark = await body(await post(`${base}/theme`, { context: { targetingKey: 'a', email: 'ops@x.io' } }));
  assert.deepEqual(
    { value: dark.value, variant: dark.variant, reason: dark.reason },
    { value: 'dark', variant: 'dark', reason: 'TARGETING_MATCH' },
  );
  const missing = await post(`${base}/nope`, { context: { targetingKey: 'a' } });
  assert.equal(missing.status, 404);
  assert.equal((await body(missing)).errorCode, 'FLAG_NOT_FOUND');
  const broken = await h.fetch(`${base}/theme`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{nope',
  });
  assert.equal(broken.status, 400);
  assert.deepEqual(
    [(await body(broken)).key, (await post(`${base}/theme`, '{"context":{}}').then(body)).errorCode],
    ['theme', 'INVALID_CONTEXT'],
    'malformed JSON is PARSE_ERROR with the key; a JSON string holding a request is not parsed twice',
  );
  const bulk = await post(base, { context: { targetingKey: 'a' } });
  const etag = bulk.headers.get('etag')!;
  assert.ok(etag);
  assert.equal((await body(bulk)).flags.length, 2);
  assert.equal((await post(base, { context: { targetingKey: 'a' } }, { 'if-none-match': etag })).status, 304);
  const unknownApp = await post(`${h.apiUrl}/api/v1/apps/nope/ofrep/v1/evaluate/flags/theme`, {
    context: {},
  });
  assert.equal(unknownApp.status, 404);
  const unknown = await body(unknownApp);
  assert.deepEqual([unknown.key, unknown.errorCode], ['theme', 'FLAG_NOT_FOUND'], 'OFREP shape, with key');
  assert.match(unknown.errorDetails, /nope/);
});

test('a mistyped baseUrl reaches the app through the OFREP provider as a message naming the app', async () => {
  const domain = 'mistyped-base-url';
  await OpenFeature.setProviderAndWait(
    domain,
    new OFREPProvider({
      baseUrl: `${h.apiUrl}/api/v1/apps/shopp`,
      headers: [['authorization', `Bearer ${h.token}`]],
    }),
  );
  const details = await OpenFeature.getClient(domain).getStringDetails('theme', 'light');
  await OpenFeature.clearProviders();
  assert.deepEqual([details.value, details.errorCode], ['light', 'FLAG_NOT_FOUND']);
  assert.match(
    details.errorMessage ?? '',
    /shopp/,
    'the provider surfaces what Rewind said, not "malformed"',
  );
});

test('a flag file flagd would refuse is refused, every problem named, and the previous version stays in force', async () => {
  const file = join(h.dir, 'bad.json');
  writeFileSync(
    file,
    JSON.stringify({
      flags: {
        recommendations: { state: 'ON', variants: { on: true, off: false }, defaultVariant: 'on' },
        theme: { state: 'ENABLED', variants: { light: 'light' }, defaultVariant: 'dark' },
      },
    }),
  );
  const bad = await h.cli('flags', 'set', 'shop', '--file', file);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /2 problems:/);
  assert.match(bad.stderr, /flags\.recommendations\.state: .*\(found "ON"\)/);
  assert.match(bad.stderr, /flags\.theme\.defaultVariant: .*\(found "dark"\)/);
  const unknown = await h.cli('flags', 'disable', 'shop', 'nope', '--reason', 'x');
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /no flag "nope"; its flags: recommendations, theme/);
  assert.equal(JSON.parse((await h.cli('flags', 'list', 'shop', '--json')).stdout).version, 1);
});

test('flags disable is a manual kill switch with an incident; rollback to a version restores it', async () => {
  const off = await h.cli('flags', 'disable', 'shop', 'recommendations', '--reason', 'recs slow', '--json');
  assert.equal(off.code, 0, off.stderr);
  const { version, incident } = JSON.parse(off.stdout);
  assert.equal(version, 2);
  assert.equal((await products()).recommendations, undefined, 'disabled: the shop falls back to off');
  const report = await h.cli('incidents', 'show', incident.id);
  assert.equal((await h.cli('incidents', 'show', 'latest')).stdout, report.stdout, '`latest` is the newest');
  assert.match(
    report.stdout,
    /Partial rollback\*\*: flag `recommendations` disabled \(flag set version 1 -> 2\); v1 \(revision 1\) stays/,
  );
  // v1 served throughout: the report must not say otherwise, nor claim a measured impact.
  assert.doesNotMatch(report.stdout, /no traffic reached/);
  assert.match(
    report.stdout,
    /\*\*Duration\*\*: \d+ms \(from the command until flag `recommendations` was off\)/,
  );
  assert.match(
    report.stdout,
    /\*\*Impact\*\*: v1 \(revision 1\) kept serving; not measured: .*switched off by hand/,
  );
  assert.equal(incident.status, 'Resolved');
  const back = await h.cli('flags', 'rollback', 'shop', '--to-version', '1', '--json');
  assert.equal(JSON.parse(back.stdout).version, 3);
  assert.ok((await products()).recommendations);
});

test('a kill-switch rule disables the broken feature during a rollout, and the release stays', async () => {
  const load = startLoad(`${h.appUrl}/products`, 4);
  const deploy = await h.cli(
    'deploy',
    'shop',
    '--version',
    'v2',
    '--env',
    'SHOP_RECOMMENDATIONS_ERROR_RATE=0.5',
    '--wait',
    '--json',
  );
  await load.stop();
  assert.equal(deploy.code, 0, deploy.stdout + deploy.stderr);
  assert.equal(JSON.parse(deploy.stdout).phase, 'Completed');
  const flags = JSON.parse((await h.cli('flags', 'list', 'shop', '--json')).stdout);
  assert.equal(flags.flags.recommendations.state, 'DISABLED');
  const incidents = JSON.parse((await h.cli('incidents', '--json')).stdout);
  const auto = incidents.find((i: { title: string }) =>
    /flag recommendations disabled: rule recommendations-errors/.test(i.title),
  );
  assert.ok(auto, JSON.stringify(incidents.map((i: { title: string }) => i.title)));
  assert.equal(auto.partialRollback.flag, 'recommendations');
  assert.equal(auto.trigger.rule, 'recommendations-errors');
  // The rule judged v2, which served with the flag on and kept serving: the report is about it.
  assert.deepEqual(auto.revisions.to, { number: 2, version: 'v2' });
  assert.equal(auto.partialRollback.measuredFrom, auto.trigger.breachingSince ?? auto.trigger.window.from);
  assert.ok(auto.impact.requestsServed > 0 && auto.impact.requestsFailed > 0, JSON.stringify(auto.impact));
  const report = (await h.cli('incidents', 'show', auto.id)).stdout;
  assert.doesNotMatch(report, /no traffic reached/);
  assert.match(
    report,
    /\*\*Duration\*\*: [\d.]+m?s \(from the breach until flag `recommendations` was off\)/,
  );
  assert.match(
    report,
    /\*\*Impact\*\*: v2 \(revision 2\) kept serving, [\d.]+% of traffic; \d+ of \d+ requests on it failed \([\d.]+%\) from the breach/,
  );
  assert.match(report, /v2 \(revision 2\) stays/);
  const status = JSON.parse((await h.cli('status', 'shop', '--json')).stdout);
  assert.equal(status.stableVersion, 'v2');
});

test('a revision carries the flag set in force when it was made; rolling back to it restores that flag set', async () => {
  assert.equal((await h.cli('flags', 'enable', 'shop', 'recommendations')).code, 0);
  const enabledAt = JSON.parse((await h.cli('flags', 'list', 'shop', '--json')).stdout).version;
  const v3 = await h.cli('deploy', 'shop', '--version', 'v3', '--wait');
  assert.equal(v3.code, 0, v3.stdout + v3.stderr);
  assert.equal(
    (await h.cli('flags', 'disable', 'shop', 'recommendations', '--reason', 'v4 ships without')).code,
    0,
  );
  const v4 = await h.cli('deploy', 'shop', '--version', 'v4', '--wait');
  assert.equal(v4.code, 0, v4.stdout + v4.stderr);
  const back = await h.cli('rollback', 'shop', '--json');
  assert.equal(back.code, 0, back.stdout + back.stderr);
  const now = JSON.parse((await h.cli('flags', 'list', 'shop', '--json')).stdout);
  assert.equal(now.flags.recommendations.state, 'ENABLED');
  const newest = JSON.parse((await h.cli('flags', 'history', 'shop', '--json')).stdout)[0];
  assert.equal(newest.copiedFrom, enabledAt);
  assert.match(newest.reason, /rollback to revision/);
  assert.ok((await products()).recommendations, 'the shop sees the restored flag');
});

test('flags set loads what flagd loads and shows its warnings (flag, JSON path, fix), in text and --json', async () => {
  const file = join(h.dir, 'beta.json');
  const beta = {
    state: 'ENABLED',
    variants: { on: true, off: false },
    defaultVariant: 'off',
    targeting: { if: [{ sem_ver: [{ var: 'appVersion' }, '>=', 'v2.1'] }, 'on', 'maybe'] },
  };
  writeFileSync(file, JSON.stringify(beta));
  const text = await h.cli('flags', 'set', 'shop', 'beta', '--file', file, '--reason', 'beta');
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /added beta\n2 warnings in 1 flag: flagd loads these too/);
  assert.match(
    text.stdout,
    /warning: flag `beta` targeting\.if\[0\]\.sem_ver\[2\]: "v2\.1" is not a semantic version .*Fix: write "2\.1\.0"/,
  );
  assert.match(text.stdout, /warning: flag `beta` targeting\.if\[2\]: the rule returns a variant .*"maybe"/);
  const json = JSON.parse((await h.cli('flags', 'set', 'shop', 'beta', '--file', file, '--json')).stdout);
  assert.deepEqual(
    json.warnings.map((w: { flag: string; path: string }) => `${w.flag} ${w.path}`),
    ['beta flags.beta.targeting.if[0].sem_ver[2]', 'beta flags.beta.targeting.if[2]'],
  );
  const history = JSON.parse((await h.cli('flags', 'history', 'shop', '--json')).stdout);
  assert.equal(history[0].warnings.length, 2, 'kept with the version');
  assert.match(
    (await h.cli('flags', 'history', 'shop')).stdout,
    /WARNINGS {2}REASON\n[\s\S]*added beta\s+2\s+beta\n/,
  );
});
