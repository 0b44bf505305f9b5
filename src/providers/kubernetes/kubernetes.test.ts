// The pure parts of the Kubernetes providers: a revision's ReplicaSet, a pod as an instance, a
// plan as an HTTPRoute, readiness as health, and the rewind.yaml settings with their errors.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import { appSpecSchema } from '../../spec/app-spec.ts';
import { runtimeSpecSchema, trafficSpecSchema } from '../../spec/provider-spec.ts';
import type { TrafficPlan } from '../traffic-router.ts';
import { bounded, REQUEST_TIMEOUT_MS } from './kube-api.ts';
import { httpRouteSpec } from './kube-traffic.ts';
import { instanceOfPod, replicaSetFor } from './kubernetes-runtime.ts';
import { ReadinessHealth } from './readiness-health.ts';

test("a revision's ReplicaSet: labels, version in the image, the revision's env, the command when the template has none", () => {
  const rs = replicaSetFor({
    app: 'shop',
    namespace: 'prod',
    template: {
      metadata: { labels: { team: 'shop' } },
      spec: {
        containers: [
          {
            name: 'shop',
            image: 'reg/shop:${version}',
            env: [
              { name: 'KEEP', value: '1' },
              { name: 'PORT', value: 'x' },
            ],
          },
          { name: 'sidecar', image: 'reg/proxy:${version}', command: ['proxy'] },
        ],
      },
    },
    spec: {
      app: 'shop',
      revision: 7,
      index: 1,
      command: 'node server.js',
      cwd: '.',
      env: { SHOP_GREETING: 'hi' },
      stopTimeoutMs: 5000,
      version: 'v7',
    },
    replicas: 2,
    port: 8080,
  });
  assert.equal(rs.metadata?.name, 'shop-7');
  assert.deepEqual(rs.spec?.selector.matchLabels, { 'rewind.dev/app': 'shop', 'rewind.dev/revision': '7' });
  assert.deepEqual(rs.spec?.template?.metadata?.labels, {
    team: 'shop',
    'rewind.dev/app': 'shop',
    'rewind.dev/revision': '7',
  });
  const [main, sidecar] = rs.spec!.template!.spec!.containers;
  assert.equal(main!.image, 'reg/shop:v7');
  assert.equal(sidecar!.image, 'reg/proxy:v7');
  assert.deepEqual(main!.command, ['/bin/sh', '-c', 'node server.js']);
  assert.deepEqual(sidecar!.command, ['proxy'], 'a container with its own command keeps it');
  assert.deepEqual(
    Object.fromEntries(main!.env!.map((e) => [e.name, e.value])),
    { KEEP: '1', SHOP_GREETING: 'hi', PORT: '8080', REWIND_APP: 'shop', REWIND_REVISION: '7' },
    "the revision's PORT wins over the template's",
  );
  assert.equal(rs.spec!.template!.spec!.terminationGracePeriodSeconds, 5);
  assert.equal(rs.spec!.replicas, 2);
});

test('a pod as an instance, by its status', () => {
  const pod = (status: V1Pod['status'], deleting = false): V1Pod => ({
    metadata: {
      name: 'shop-3-abc',
      labels: { 'rewind.dev/revision': '3' },
      ...(deleting && { deletionTimestamp: new Date() }),
    },
    status,
  });
  const cases: [string, V1Pod, Partial<ReturnType<typeof instanceOfPod>>][] = [
    ['pending', pod({ phase: 'Pending' }), { phase: 'Starting', ready: undefined }],
    [
      'running and ready',
      pod({ phase: 'Running', podIP: '10.244.0.7', conditions: [{ type: 'Ready', status: 'True' }] }),
      { phase: 'Running', ready: true, address: { host: '10.244.0.7', port: 8080 } },
    ],
    [
      'running, not ready',
      pod({ phase: 'Running', conditions: [{ type: 'Ready', status: 'False' }] }),
      { phase: 'Running', ready: false },
    ],
    ['being deleted', pod({ phase: 'Running' }, true), { phase: 'Stopping' }],
    [
      'an image that cannot be pulled',
      pod({
        phase: 'Pending',
        containerStatuses: [
          {
            name: 'shop',
            image: 'x',
            imageID: '',
            ready: false,
            restartCount: 0,
            state: { waiting: { reason: 'ImagePullBackOff', message: 'no such image' } },
          },
        ],
      }),
      { phase: 'Failed', reason: 'ImagePullBackOff: no such image' },
    ],
    [
      'a crash loop',
      pod({
        phase: 'Running',
        containerStatuses: [
          {
            name: 'shop',
            image: 'x',
            imageID: '',
            ready: false,
            restartCount: 4,
            state: { waiting: { reason: 'CrashLoopBackOff' } },
            lastState: { terminated: { exitCode: 1, finishedAt: new Date(5000) } },
          },
        ],
      }),
      { phase: 'Running', restarts: 4, lastExit: { code: 1, signal: null, at: 5000 } },
    ],
  ];
  for (const [name, p, want] of cases) {
    const got = instanceOfPod('shop', p, 0, 8080);
    assert.equal(got.id, 'shop/3/0', name);
    assert.equal(got.revision, 3, name);
    for (const [k, v] of Object.entries(want))
      assert.deepEqual(got[k as keyof typeof got], v, `${name}: ${k}`);
  }
});

test('a plan as an HTTPRoute: force-header rules first, then the weights; zero weights left out', () => {
  const plan: TrafficPlan = {
    app: 'shop',
    revisions: [
      { revision: 4, unit: 4, weight: 80 },
      { revision: 5, unit: 5, weight: 20 },
      { revision: 6, unit: 2, weight: 0 },
    ],
    match: { forceHeader: 'x-rewind-revision' },
  };
  const traffic = trafficSpecSchema.parse({
    type: 'gatewayApi',
    gateway: { name: 'public', namespace: 'gw', sectionName: 'https' },
    route: { hostnames: ['shop.example.com'] },
  });
  const spec = httpRouteSpec(plan, traffic) as {
    parentRefs: unknown[];
    hostnames: string[];
    rules: {
      matches: { headers?: { name: string; value: string }[] }[];
      backendRefs: { name: string; weight: number }[];
    }[];
  };
  assert.deepEqual(spec.parentRefs, [{ name: 'public', namespace: 'gw', sectionName: 'https' }]);
  assert.deepEqual(spec.hostnames, ['shop.example.com']);
  assert.deepEqual(
    spec.rules.map((r) => [
      r.matches[0]!.headers?.[0]?.value ?? '*',
      r.backendRefs.map((b) => `${b.name}=${b.weight}`).join(' '),
    ]),
    [
      ['4', 'shop-4=1'],
      ['5', 'shop-5=1'],
      ['6', 'shop-2=1'],
      ['*', 'shop-4=80 shop-5=20'],
    ],
  );
});

test('readiness is health: Ready is Healthy, not Ready Unhealthy, no word yet Unknown', () => {
  const h = new ReadinessHealth();
  const inst = (id: string, ready: boolean | undefined, phase: 'Running' | 'Starting' = 'Running') => ({
    id,
    app: 'shop',
    revision: 1,
    index: 0,
    phase,
    pid: null,
    port: 8080,
    address: { host: '10.0.0.1', port: 8080 },
    ready,
    restarts: 0,
    startedAt: null,
    lastExit: null,
    reason: null,
  });
  h.observe([inst('a', true), inst('b', false), inst('c', undefined), inst('d', true, 'Starting')]);
  assert.deepEqual(
    ['a', 'b', 'c', 'd', 'gone'].map((id) => h.verdict(id)),
    ['Healthy', 'Unhealthy', 'Unknown', 'Unhealthy', 'Unknown'],
  );
  assert.match(h.detail('b'), /not ready/);
  h.observe([inst('a', true)]);
  assert.equal(h.verdict('b'), 'Unknown', 'an instance no longer listed is forgotten');
});

test('the Kubernetes settings of rewind.yaml: each mistake names the field and the fix', () => {
  const ok = runtimeSpecSchema.parse({ type: 'kubernetes', workloadRef: { name: 'shop' } });
  assert.deepEqual(ok.workloadRef, { kind: 'Deployment', name: 'shop' });
  const cases: [unknown, 'runtime' | 'traffic', string, RegExp][] = [
    [{ type: 'kubernetes' }, 'runtime', 'podTemplate', /needs the pods to run: a podTemplate/],
    [
      { type: 'kubernetes', workloadRef: { name: 'a' }, podTemplate: { spec: { containers: [{}] } } },
      'runtime',
      'workloadRef',
      /not both/,
    ],
    [
      { type: 'kubernetes', podTemplate: { spec: { containers: [] } } },
      'runtime',
      'podTemplate.spec',
      /at least one container/,
    ],
    [
      { type: 'kubernetes', namespace: 'Shop_1', workloadRef: { name: 'a' } },
      'runtime',
      'namespace',
      /lower-case letters, digits and -/,
    ],
    [
      { type: 'kubernetes', workloadRef: { kind: 'StatefulSet', name: 'a' } },
      'runtime',
      'workloadRef.kind',
      /only a Deployment/,
    ],
    [{ namespace: 'shop' }, 'runtime', 'namespace', /setting of runtime.type kubernetes, not of "process"/],
    [{ type: 'gatewayApi' }, 'traffic', 'gateway', /needs the Gateway its HTTPRoute attaches to/],
    [
      { gateway: { name: 'public' } },
      'traffic',
      'gateway',
      /setting of traffic.type gatewayApi, not of "builtin"/,
    ],
  ];
  for (const [input, which, path, message] of cases) {
    const r = (which === 'runtime' ? runtimeSpecSchema : trafficSpecSchema).safeParse(input);
    assert.equal(r.success, false, JSON.stringify(input));
    const issue = r.error!.issues.find((i) => i.path.join('.') === path);
    assert.ok(issue, `${JSON.stringify(input)}: no issue at ${path}: ${JSON.stringify(r.error!.issues)}`);
    assert.match(issue.message, message);
  }
});

test('a canary on traffic service is refused: a selector cannot split traffic', () => {
  const app = (strategy: object) => ({
    name: 'shop',
    listen: '127.0.0.1:8080',
    run: { command: 'node server.js' },
    runtime: { type: 'kubernetes', workloadRef: { name: 'shop' } },
    traffic: { type: 'service' },
    strategy,
  });
  const r = appSpecSchema.safeParse(app({ canary: { steps: [{ setWeight: 50 }] } }));
  assert.equal(r.success, false);
  const issue = r.error!.issues.find((i) => i.path.join('.') === 'traffic.type');
  assert.match(
    issue?.message ?? '',
    /cannot split traffic for a canary; use strategy blueGreen, or traffic gatewayApi/,
  );
  assert.equal(appSpecSchema.safeParse(app({ blueGreen: {} })).success, true);
});

test('an API request that never answers fails after the bound, naming what it was; one that answers is passed on', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const hung = bounded('patch ReplicaSet shop-3', new Promise<never>(() => {}));
  t.mock.timers.tick(REQUEST_TIMEOUT_MS);
  await assert.rejects(
    hung,
    /patch ReplicaSet shop-3: the Kubernetes API server did not answer within 10000 ms/,
  );
  assert.equal(await bounded('read', Promise.resolve(7)), 7);
});
