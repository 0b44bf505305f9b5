// Rollback on Kubernetes: from `rewind rollback`'s API call to the moment the HTTPRoute's weights
// send everything back to the previous (warm) revision, on the test control plane
// (test/support/kube/control-plane.ts: kube-apiserver, etcd, controller manager, scheduler, KWOK).
// Each cycle deploys a new version (blue-green, the previous ReplicaSet kept warm), waits for it
// to complete, then t0 = just before POST rollback, and polls the HTTPRoute every 2 ms until its
// weighted rule names the previous revision alone: that read's send time - t0. The rollback's own
// journal says when the route patch returned (traffic.switched's inForceAt): that minus t0 too.
//
//   node bench/kube-rollback.ts [--cycles 10] [--json]
//
// The peers: Argo Rollouts aborts to the stable ReplicaSet on its next reconcile of the Rollout
// (an abort is a patch that its controller then acts on), Flagger on its next analysis interval
// (default 1 m). Neither runs here (no image, no registry), so their figures are their documented
// intervals, not measurements.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { installGatewayApi, kubeFetch, startControlPlane } from '../test/support/kube/control-plane.ts';
import {
  ApiClient,
  commandLine,
  intFlag,
  machine,
  machineLine,
  nowMs,
  round,
  roundSummary,
  startBenchRewind,
  summarize,
  summaryTable,
} from './lib/rewind-cycle.ts';

const args = process.argv.slice(2);
const cycles = intFlag(args, 'cycles', 10);
const json = args.includes('--json');
const TARGET_MEDIAN_MS = 100;

const dir = mkdtempSync(join(tmpdir(), 'rewind-bench-kube-'));
const m0 = machine();
const plane = await startControlPlane({ dir: join(dir, 'plane') });
const cleanup = async () => {
  await plane.stop();
  rmSync(dir, { recursive: true, force: true });
};
let h: Awaited<ReturnType<typeof startBenchRewind>> | undefined;
try {
  await installGatewayApi(plane);
  h = await startBenchRewind(
    (port) => `apps:
  - name: shop
    listen: 127.0.0.1:${port}
    run: { command: node server.js, instances: 2, stopTimeout: 1s }
    runtime:
      type: kubernetes
      kubeconfig: ${plane.kubeconfig}
      podTemplate: { spec: { containers: [ { name: shop, image: "registry.local/shop:\${version}" } ] } }
    traffic: { type: gatewayApi, gateway: { name: public } }
    health: { type: readiness, startTimeout: 60s }
    strategy:
      blueGreen: { bake: 0s, watch: 0s, keepPreviousWarm: 10m, drainTimeout: 1s }
`,
  );
  const api = new ApiClient(h.apiUrl, h.token);
  const routeTarget = async (): Promise<string> => {
    const r = await kubeFetch(plane, '/apis/gateway.networking.k8s.io/v1/namespaces/default/httproutes/shop');
    if (!r.ok) return '';
    const route = (await r.json()) as {
      spec: {
        rules: { matches?: { headers?: unknown[] }[]; backendRefs: { name: string; weight: number }[] }[];
      };
    };
    const weighted = route.spec.rules.find((rule) => !rule.matches?.some((x) => x.headers?.length));
    const refs = (weighted?.backendRefs ?? []).filter((b) => b.weight > 0);
    return refs.length === 1 ? refs[0]!.name : '';
  };
  const waitRoute = async (name: string, t0: number): Promise<number> => {
    for (;;) {
      const sent = nowMs();
      if ((await routeTarget()) === name) return sent - t0;
      if (nowMs() - t0 > 30_000) throw new Error(`the route did not name ${name} within 30 s`);
      await new Promise((r) => setTimeout(r, 2));
    }
  };
  await api.waitIdle(120_000);
  const seen: number[] = [];
  const applied: number[] = [];
  const apiMs: number[] = [];
  let version = 1;
  // Each cycle: deploy v(N+1) over the stable one, then roll back to it.
  for (let i = 0; i < cycles; i++) {
    version++;
    // What serves now is what the rollback must put back (a rollback's copy is served by the
    // ReplicaSet of the revision it copies, so names come from the route, not revision numbers).
    const previous = await routeTarget();
    await api.waitRollout(await api.deploy(`v${version}`), 120_000);
    for (;;) {
      const now = await routeTarget();
      if (now && now !== previous) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    const t0 = nowMs();
    const rollback = await api.rollback();
    apiMs.push(nowMs() - t0);
    seen.push(await waitRoute(previous, t0));
    const events = await api.events(rollback.id);
    const switched = events.find((e) => e.type === 'traffic.switched');
    const inForceAt = (switched?.data as { inForceAt?: number } | undefined)?.inForceAt;
    if (typeof inForceAt === 'number') applied.push(inForceAt - t0);
    await api.waitRollout(rollback, 120_000);
  }
  api.close();
  const report = {
    command: commandLine(),
    machine: { cpus: m0.cpus, loadavgAtStart: m0.loadavg, loadavgAtEnd: machine().loadavg },
    cycles,
    routeRestoredMs: roundSummary(summarize(seen)),
    routePatchedMs: applied.length ? roundSummary(summarize(applied)) : null,
    apiCallMs: roundSummary(summarize(apiMs)),
    targetMedianMs: TARGET_MEDIAN_MS,
  };
  if (json) console.log(JSON.stringify(report, null, 2));
  else {
    console.log(report.command);
    console.log(machineLine(report.machine));
    console.log(
      summaryTable([
        ['rollback call -> HTTPRoute read back restored (ms)', summarize(seen)],
        ...(applied.length
          ? [['rollback call -> route patch returned (ms)', summarize(applied)] as const]
          : []),
        ['rollback API call (ms)', summarize(apiMs)],
      ]),
    );
    const median = summarize(seen).median;
    console.log(
      `target: median under ${TARGET_MEDIAN_MS} ms: ${median < TARGET_MEDIAN_MS ? 'met' : 'NOT met'} (${round(median)} ms)`,
    );
    console.log(
      'peers (documented, not measured here): Argo Rollouts acts on its next reconcile of the Rollout; Flagger on its next analysis interval (default 1 m)',
    );
  }
} finally {
  await h?.closeOnce();
  await cleanup();
}
