// Rewind on Kubernetes, against a real control plane (kube-apiserver, controller manager,
// scheduler, etcd) whose node is simulated by KWOK: pods are scheduled, marked Running and Ready,
// and get IPs, but no container runs. A small "kubelet" in this test plays the readiness probe of
// a broken release: a pod whose environment says its /healthz fails (SHOP_HEALTH_FAIL=1) turns
// NotReady once its revision takes traffic. The first run builds the control plane with Go
// (minutes, progress on stderr); later runs reuse the build (test/support/kube/control-plane.ts).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createTarget, type TestTarget } from '../support/db-targets.ts';
import {
  type ControlPlane,
  installGatewayApi,
  kubeFetch,
  startControlPlane,
} from '../support/kube/control-plane.ts';
import { type Harness, ROOT, roleOf, startRewind, waitFor } from '../support/rewind-harness.ts';

interface Pod {
  metadata: { name: string; labels?: Record<string, string> };
  spec: { containers: { env?: { name: string; value?: string }[] }[] };
  status?: { conditions?: { type: string; status: string }[] };
}
interface Route {
  spec: { rules: { matches?: { headers?: unknown[] }[]; backendRefs: { name: string; weight: number }[] }[] };
}

const NS = 'default';

async function getJson<T>(plane: ControlPlane, path: string): Promise<T> {
  const r = await kubeFetch(plane, path);
  if (!r.ok) throw new Error(`GET ${path}: ${r.status} ${await r.text()}`);
  return (await r.json()) as T;
}

/** The weighted rule of the app's HTTPRoute as "service=weight" pairs, or null before it exists. */
async function weights(plane: ControlPlane, app: string): Promise<string | null> {
  const r = await kubeFetch(plane, `/apis/gateway.networking.k8s.io/v1/namespaces/${NS}/httproutes/${app}`);
  if (r.status === 404) return null;
  const route = (await r.json()) as Route;
  const weighted = route.spec.rules.find((rule) => !rule.matches?.some((m) => m.headers?.length));
  return (weighted?.backendRefs ?? [])
    .map((b) => `${b.name}=${b.weight}`)
    .sort()
    .join(' ');
}

async function replicas(plane: ControlPlane, name: string): Promise<number> {
  const rs = await getJson<{ spec: { replicas: number } }>(
    plane,
    `/apis/apps/v1/namespaces/${NS}/replicasets/${name}`,
  );
  return rs.spec.replicas;
}

/**
 * The readiness probe of a release whose /healthz fails: once its revision has weight on the
 * route, its pods turn NotReady (what a kubelet would report), and stay so.
 */
function brokenReleaseKubelet(plane: ControlPlane, app: string) {
  let running = true;
  const loop = (async () => {
    while (running) {
      try {
        const pods = await getJson<{ items: Pod[] }>(
          plane,
          `/api/v1/namespaces/${NS}/pods?labelSelector=rewind.dev/app=${app}`,
        );
        const serving = (await weights(plane, app)) ?? '';
        for (const pod of pods.items) {
          const broken = pod.spec.containers[0]?.env?.some(
            (e) => e.name === 'SHOP_HEALTH_FAIL' && e.value === '1',
          );
          const revision = pod.metadata.labels?.['rewind.dev/revision'];
          const hasTraffic = new RegExp(`(^| )${app}-${revision}=[1-9]`).test(serving);
          const ready = pod.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
          if (!broken || !hasTraffic || !ready) continue;
          await kubeFetch(plane, `/api/v1/namespaces/${NS}/pods/${pod.metadata.name}/status`, {
            method: 'PATCH',
            contentType: 'application/merge-patch+json',
            body: JSON.stringify({
              status: {
                conditions: [
                  { type: 'PodScheduled', status: 'True' },
                  { type: 'Initialized', status: 'True' },
                  { type: 'ContainersReady', status: 'False', reason: 'ReadinessProbeFailed' },
                  { type: 'Ready', status: 'False', reason: 'ReadinessProbeFailed' },
                ],
              },
            }),
          });
        }
      } catch {
        // The next round looks again.
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return async () => {
    running = false;
    await loop;
  };
}

const config = (kubeconfig: string) => (port: number) =>
  `apps:
  - name: shop
    listen: 127.0.0.1:${port}
    run: { command: node server.js, instances: 2, stopTimeout: 1s }
    runtime:
      type: kubernetes
      kubeconfig: ${kubeconfig}
      namespace: ${NS}
      podTemplate:
        metadata: { labels: { team: shop } }
        spec:
          containers: [ { name: shop, image: "registry.local/shop:\${version}" } ]
    traffic: { type: gatewayApi, gateway: { name: public } }
    health: { type: readiness, startTimeout: 60s }
    strategy:
      canary:
        steps: [ { setWeight: 20 }, { pause: 2s }, { setWeight: 50 }, { pause: 2s }, { setWeight: 100 } ]
        bake: 1s
        keepPreviousWarm: 0s
        drainTimeout: 1s
    analysis:
      interval: 1s
      rules:
        - { name: not-ready, metric: healthFailing, above: 0, for: 1s, severity: P0 }
  - name: blue
    listen: 127.0.0.1:${port + 1}
    run: { command: node server.js, instances: 1, stopTimeout: 1s }
    runtime:
      type: kubernetes
      kubeconfig: ${kubeconfig}
      podTemplate:
        spec:
          containers: [ { name: blue, image: "registry.local/blue:\${version}" } ]
    traffic: { type: service }
    health: { type: readiness, startTimeout: 60s }
    strategy:
      blueGreen: { bake: 1s, keepPreviousWarm: 1m, drainTimeout: 1s }
  - name: legacy
    listen: 127.0.0.1:${port + 2}
    run: { command: node server.js, instances: 1, stopTimeout: 1s }
    runtime: { type: kubernetes, kubeconfig: ${kubeconfig}, workloadRef: { name: legacy } }
    traffic: { type: service }
    health: { type: readiness, startTimeout: 60s }
`;

describe('on Kubernetes: ReplicaSets per revision, Gateway API weights, a Service selector', () => {
  let plane: ControlPlane;
  let h: Harness;
  let dir: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rewind-kube-'));
    const started = performance.now();
    plane = await startControlPlane({ dir: join(dir, 'plane') });
    await installGatewayApi(plane);
    console.log(
      `# control plane up in ${((performance.now() - started) / 1000).toFixed(1)} s (build excluded)`,
    );
    // The Deployment app legacy names with workloadRef (Argo's model): its template, not its pods.
    const legacy = await kubeFetch(plane, `/apis/apps/v1/namespaces/${NS}/deployments`, {
      method: 'POST',
      body: JSON.stringify({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'legacy' },
        spec: {
          replicas: 0,
          selector: { matchLabels: { app: 'legacy' } },
          template: {
            metadata: { labels: { app: 'legacy', tier: 'web' } },
            spec: { containers: [{ name: 'legacy', image: 'registry.local/legacy:${version}' }] },
          },
        },
      }),
    });
    assert.ok(legacy.ok, `the legacy Deployment: ${legacy.status}`);
    h = await startRewind({ config: config(plane.kubeconfig) });
    await waitFor(
      'v1 of shop on the route',
      async () => (await weights(plane, 'shop')) === 'shop-1=100',
      60_000,
    );
  });
  after(async () => {
    await h?.close();
    await plane?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('a canary steps the HTTPRoute weights, one patch a step, and completes on its ReplicaSet', async () => {
    const rs = await getJson<{
      metadata: { labels: Record<string, string> };
      spec: {
        template: { spec: { containers: { image: string; env: { name: string; value: string }[] }[] } };
      };
    }>(plane, `/apis/apps/v1/namespaces/${NS}/replicasets/shop-1`);
    assert.equal(rs.metadata.labels['rewind.dev/app'], 'shop');
    assert.equal(rs.spec.template.spec.containers[0]!.image, 'registry.local/shop:v1');
    assert.ok(
      rs.spec.template.spec.containers[0]!.env.some((e) => e.name === 'REWIND_REVISION' && e.value === '1'),
    );

    const seen: string[] = [];
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const w = await weights(plane, 'shop').catch(() => null);
        if (w && seen.at(-1) !== w) seen.push(w);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const r = await h.cli('deploy', 'shop', '--version', 'v2', '--wait', '--json');
    watching = false;
    await watcher;
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(seen, ['shop-1=100', 'shop-1=80 shop-2=20', 'shop-1=50 shop-2=50', 'shop-2=100']);
    assert.equal(await replicas(plane, 'shop-2'), 2);
    await waitFor('v1 scaled to zero', async () => (await replicas(plane, 'shop-1')) === 0, 30_000);
  });

  test('a canary whose pods fail readiness under traffic is rolled back: the route restored in one patch, its ReplicaSet at zero', async () => {
    const stopKubelet = brokenReleaseKubelet(plane, 'shop');
    try {
      const r = await h.cli(
        'deploy',
        'shop',
        '--version',
        'v3',
        '--env',
        'SHOP_HEALTH_FAIL=1',
        '--wait',
        '--json',
      );
      assert.equal(r.code, 2, r.stdout + r.stderr);
      // The rule, or the rollout's own look at its instances' health, whichever sees it first.
      assert.match(
        (JSON.parse(r.stdout) as { error?: string }).error ?? '',
        /not.ready|readiness probe fails/,
      );
    } finally {
      await stopKubelet();
    }
    assert.equal(await weights(plane, 'shop'), 'shop-2=100');
    await waitFor('v3 scaled to zero', async () => (await replicas(plane, 'shop-3')) === 0, 30_000);
    const incidents = (await (await h.fetch(`${h.apiUrl}/api/v1/incidents`)).json()) as {
      app: string;
      trigger: { rule?: string };
    }[];
    assert.equal(incidents[0]?.app, 'shop');
    assert.match(JSON.stringify(incidents[0]?.trigger), /not.ready|readiness probe fails/);
  });

  test('config set rolls out a ReplicaSet with the new environment; a rollback puts the route back on the old one', async () => {
    const envOf = async (name: string) => {
      const rs = await getJson<{
        spec: { template: { spec: { containers: { env: { name: string; value: string }[] }[] } } };
      }>(plane, `/apis/apps/v1/namespaces/${NS}/replicasets/${name}`);
      return Object.fromEntries(rs.spec.template.spec.containers[0]!.env.map((e) => [e.name, e.value]));
    };
    const before = (await weights(plane, 'shop'))!;
    const r = await h.cli('config', 'set', 'shop', 'SHOP_GREETING=hola', '--wait', '--json');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const now = (await weights(plane, 'shop'))!;
    assert.notEqual(now, before);
    const newSet = now.split('=')[0]!;
    assert.equal((await envOf(newSet)).SHOP_GREETING, 'hola');
    assert.equal((await envOf(before.split('=')[0]!)).SHOP_GREETING, undefined);
    const back = await h.cli('rollback', 'shop', '--json');
    assert.equal(back.code, 0, back.stdout + back.stderr);
    // The copy of the previous revision is served by that revision's ReplicaSet, started again.
    await waitFor(
      'the route on the previous ReplicaSet',
      async () => (await weights(plane, 'shop')) === before,
      60_000,
    );
  });

  test('blue-green without a gateway: the Service selector switches revision, and back on rollback', async () => {
    const selector = async () =>
      (
        await getJson<{ spec: { selector: Record<string, string> } }>(
          plane,
          `/api/v1/namespaces/${NS}/services/blue`,
        )
      ).spec.selector['rewind.dev/revision'];
    await waitFor('blue v1 selected', async () => (await selector().catch(() => null)) === '1', 60_000);
    const r = await h.cli('deploy', 'blue', '--version', 'v2', '--wait', '--json');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(await selector(), '2');
    const back = await h.cli('rollback', 'blue', '--json');
    assert.equal(back.code, 0, back.stdout + back.stderr);
    await waitFor('blue back on v1', async () => (await selector()) === '1', 30_000);
  });

  test("workloadRef: the revisions copy the referenced Deployment's pod template", async () => {
    const rs = await waitFor(
      'legacy-1',
      async () =>
        (await kubeFetch(plane, `/apis/apps/v1/namespaces/${NS}/replicasets/legacy-1`)).ok &&
        getJson<{
          spec: {
            replicas: number;
            template: {
              metadata: { labels: Record<string, string> };
              spec: { containers: { image: string }[] };
            };
          };
        }>(plane, `/apis/apps/v1/namespaces/${NS}/replicasets/legacy-1`),
      60_000,
    ).catch(async (err) => {
      const events = await (await h.fetch(`${h.apiUrl}/api/v1/apps/legacy/events`)).text();
      throw new Error(`${err.message}: ${events.slice(-2000)}\n${h.output().slice(-2000)}`);
    });
    assert.equal(rs.spec.replicas, 1);
    assert.equal(rs.spec.template.spec.containers[0]!.image, 'registry.local/legacy:v1');
    assert.equal(rs.spec.template.metadata.labels.tier, 'web');
    assert.equal(rs.spec.template.metadata.labels['rewind.dev/revision'], '1');
    const svc = await waitFor('the legacy Service', async () =>
      getJson<{ spec: { selector: Record<string, string> } }>(
        plane,
        `/api/v1/namespaces/${NS}/services/legacy`,
      ),
    );
    assert.equal(svc.spec.selector['rewind.dev/revision'], '1');
  });

  test('the manifests in deploy/kubernetes apply, run, and grant the providers what they use and nothing more', async () => {
    const { parseAllDocuments } = await import('yaml');
    const ns = await kubeFetch(plane, '/api/v1/namespaces', {
      method: 'POST',
      body: JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } }),
    });
    assert.ok(ns.ok || ns.status === 409, `namespace: ${ns.status}`);
    const paths: Record<string, string> = {
      ServiceAccount: '/api/v1/namespaces/shop/serviceaccounts',
      Role: '/apis/rbac.authorization.k8s.io/v1/namespaces/shop/roles',
      RoleBinding: '/apis/rbac.authorization.k8s.io/v1/namespaces/shop/rolebindings',
      Deployment: '/apis/apps/v1/namespaces/shop/deployments',
      Service: '/api/v1/namespaces/shop/services',
    };
    const docs = parseAllDocuments(readFileSync(join(ROOT, 'deploy/kubernetes/rewind.yaml'), 'utf8')).map(
      (d) => d.toJS() as { kind: string },
    );
    assert.deepEqual(
      docs.map((d) => d.kind),
      ['ServiceAccount', 'Role', 'RoleBinding', 'Deployment', 'Service'],
    );
    for (const doc of docs) {
      const r = await kubeFetch(plane, paths[doc.kind]!, { method: 'POST', body: JSON.stringify(doc) });
      assert.ok(r.ok, `${doc.kind}: ${r.status} ${await r.text()}`);
    }
    // Scheduled on the fake node with the service account, and Ready.
    await waitFor(
      "rewind's two pods Ready",
      async () => {
        const pods = await getJson<{ items: (Pod & { spec: { serviceAccountName?: string } })[] }>(
          plane,
          '/api/v1/namespaces/shop/pods?labelSelector=app.kubernetes.io/name=rewind',
        );
        return (
          pods.items.length === 2 &&
          pods.items.every(
            (p) =>
              p.spec.serviceAccountName === 'rewind' &&
              p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
          )
        );
      },
      60_000,
    );
    const may = async (
      verb: string,
      group: string,
      resource: string,
      subresource = '',
      namespace = 'shop',
    ) => {
      const r = await kubeFetch(plane, '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
        method: 'POST',
        body: JSON.stringify({
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SubjectAccessReview',
          spec: {
            user: 'system:serviceaccount:shop:rewind',
            groups: ['system:serviceaccounts', 'system:serviceaccounts:shop', 'system:authenticated'],
            resourceAttributes: { namespace, verb, group, resource, subresource },
          },
        }),
      });
      return ((await r.json()) as { status: { allowed: boolean } }).status.allowed;
    };
    const needed: [string, string, string, string?][] = [
      ['create', 'apps', 'replicasets'],
      ['patch', 'apps', 'replicasets'],
      ['watch', 'apps', 'replicasets'],
      ['get', 'apps', 'deployments'],
      ['watch', '', 'pods'],
      ['get', '', 'pods', 'log'],
      ['create', '', 'services'],
      ['patch', '', 'services'],
      ['create', 'gateway.networking.k8s.io', 'httproutes'],
      ['patch', 'gateway.networking.k8s.io', 'httproutes'],
    ];
    for (const [verb, group, resource, sub] of needed)
      assert.equal(
        await may(verb, group, resource, sub),
        true,
        `${verb} ${group}/${resource}${sub ? `/${sub}` : ''}`,
      );
    const refused: [string, string, string, string?, string?][] = [
      ['get', '', 'secrets'],
      ['delete', '', 'pods'],
      ['create', '', 'pods', 'exec'],
      ['patch', 'apps', 'deployments'],
      ['delete', 'apps', 'replicasets'],
      ['create', 'rbac.authorization.k8s.io', 'roles'],
      ['list', '', 'pods', '', 'default'],
    ];
    for (const [verb, group, resource, sub, namespace] of refused)
      assert.equal(
        await may(verb, group, resource, sub, namespace),
        false,
        `${verb} ${group}/${resource}${sub ? `/${sub}` : ''} in ${namespace ?? 'shop'}`,
      );
  });
});

describe('on Kubernetes with two controllers on one PostgreSQL store', () => {
  let plane: ControlPlane;
  let db: TestTarget;
  let a: Harness;
  let b: Harness;
  let dir: string;
  const role = roleOf;
  const payConfig = (kubeconfig: string) => (port: number) =>
    `apps:
  - name: pay
    listen: 127.0.0.1:${port}
    run: { command: node server.js, instances: 1, stopTimeout: 1s }
    runtime:
      type: kubernetes
      kubeconfig: ${kubeconfig}
      podTemplate: { spec: { containers: [ { name: pay, image: "registry.local/pay:\${version}" } ] } }
    traffic: { type: gatewayApi, gateway: { name: public } }
    health: { type: readiness, startTimeout: 60s }
    strategy:
      canary:
        steps: [ { setWeight: 30 }, { pause: {} }, { setWeight: 100 } ]
        bake: 1s
        keepPreviousWarm: 0s
        drainTimeout: 1s
`;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rewind-kube-ha-'));
    plane = await startControlPlane({ dir: join(dir, 'plane') });
    await installGatewayApi(plane);
    db = await createTarget('postgres');
    const env = { REWIND_DATABASE_URL: db.url };
    a = await startRewind({ config: payConfig(plane.kubeconfig), env });
    await waitFor('A to lead', async () => (await role(a)) === 'leader');
    b = await startRewind({ config: payConfig(plane.kubeconfig), env });
    await waitFor(
      'v1 of pay on the route',
      async () => (await weights(plane, 'pay')) === 'pay-1=100',
      60_000,
    );
  });
  after(async () => {
    await b?.close();
    await a?.close();
    await db?.cleanup();
    await plane?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('the leader SIGKILLed mid-canary: the other takes over the same ReplicaSets and route, and finishes on promote', async () => {
    assert.equal(await role(b), 'follower');
    assert.equal((await a.cli('deploy', 'pay', '--version', 'v2')).code, 0);
    await waitFor(
      'the canary at 30%',
      async () => (await weights(plane, 'pay')) === 'pay-1=70 pay-2=30',
      60_000,
    );
    const paused = await waitFor('paused', async () => {
      const s = (await (await a.fetch(`${a.apiUrl}/api/v1/apps/pay`)).json()) as {
        activeRollout: { id: string; phase: string } | null;
      };
      return s.activeRollout?.phase === 'Paused' && s.activeRollout;
    });
    await a.kill('SIGKILL');
    await waitFor('B to lead', async () => (await role(b)) === 'leader', 10_000);
    // Nothing moved: the same split on the same ReplicaSets, nothing made twice.
    assert.equal(await weights(plane, 'pay'), 'pay-1=70 pay-2=30');
    const sets = await getJson<{ items: { metadata: { name: string } }[] }>(
      plane,
      `/apis/apps/v1/namespaces/${NS}/replicasets?labelSelector=rewind.dev/app=pay`,
    );
    assert.deepEqual(sets.items.map((s) => s.metadata.name).sort(), ['pay-1', 'pay-2']);
    assert.equal((await b.cli('promote', 'pay')).code, 0);
    await waitFor(
      'pay-2 alone on the route',
      async () => (await weights(plane, 'pay')) === 'pay-2=100',
      30_000,
    );
    const events = (await (await b.fetch(`${b.apiUrl}/api/v1/rollouts/${paused.id}/events`)).json()) as {
      type: string;
    }[];
    assert.equal(events.filter((e) => e.type === 'deploy.started').length, 1);
    assert.equal(
      events.filter((e) => e.type === 'traffic.weight').length,
      2,
      JSON.stringify(events.map((e) => e.type)),
    );
    await waitFor('pay-1 scaled to zero', async () => (await replicas(plane, 'pay-1')) === 0, 30_000).catch(
      async (err) => {
        const app = await (await b.fetch(`${b.apiUrl}/api/v1/apps/pay`)).text();
        const evs = await (await b.fetch(`${b.apiUrl}/api/v1/apps/pay/events`)).text();
        throw new Error(`${err.message}\n${app}\n${evs.slice(-3000)}\n${b.output().slice(-3000)}`);
      },
    );
  });
});
