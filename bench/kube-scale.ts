// Scale on Kubernetes: N apps (runtime kubernetes, traffic gatewayApi, one pod each) on one
// controller against the test control plane. For each N: the time until every app has its
// HTTPRoute; the controller's CPU per app per second and its memory while idle (10 s, read from
// /proc); and one blue-green deploy of one app: its duration and the API server's requests
// during it (apiserver_request_total from its /metrics, all clients: the scheduler, the
// controller manager and KWOK act on the new pods too), beside the same span idle.
//
//   node bench/kube-scale.ts [--apps 10,100] [--idle-seconds 10] [--json]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type ControlPlane,
  installGatewayApi,
  kubeFetch,
  startControlPlane,
} from '../test/support/kube/control-plane.ts';
import { startRewind } from '../test/support/rewind-harness.ts';
import { commandLine, machine, machineLine, round, table } from './lib/rewind-cycle.ts';

const args = process.argv.slice(2);
const listArg = (name: string, fallback: number[]) => {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const values = (args[i + 1] ?? '').split(',').map(Number);
  if (values.some((n) => !Number.isInteger(n) || n < 1))
    throw new Error(`--${name} takes whole numbers, e.g. 10,100`);
  return values;
};
const sizes = listArg('apps', [10, 100]);
const idleSeconds = listArg('idle-seconds', [10])[0]!;
const json = args.includes('--json');
const CLK_TCK = 100;

/** CPU seconds (user + system) of a process, from /proc. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

async function apiRequests(plane: ControlPlane): Promise<number> {
  const text = await (await kubeFetch(plane, '/metrics')).text();
  let n = 0;
  for (const line of text.split('\n'))
    if (line.startsWith('apiserver_request_total{')) n += Number(line.slice(line.lastIndexOf(' ') + 1));
  return n;
}

async function routes(plane: ControlPlane): Promise<number> {
  const r = await kubeFetch(plane, '/apis/gateway.networking.k8s.io/v1/namespaces/default/httproutes');
  return ((await r.json()) as { items: unknown[] }).items.length;
}

const config = (n: number, kubeconfig: string) => (port: number) =>
  `apps:\n${Array.from(
    { length: n },
    (_, i) => `  - name: app-${i}
    listen: 127.0.0.1:${port + i}
    run: { command: node server.js, instances: 1, stopTimeout: 1s }
    runtime:
      type: kubernetes
      kubeconfig: ${kubeconfig}
      podTemplate: { spec: { containers: [ { name: app, image: "registry.local/app:\${version}" } ] } }
    traffic: { type: gatewayApi, gateway: { name: public } }
    health: { type: readiness, startTimeout: 120s }
    strategy:
      blueGreen: { bake: 0s, watch: 0s, keepPreviousWarm: 0s, drainTimeout: 1s }
`,
  ).join('')}`;

const m0 = machine();
const rows: Record<string, number>[] = [];
for (const n of sizes) {
  const dir = mkdtempSync(join(tmpdir(), 'rewind-bench-kscale-'));
  const plane = await startControlPlane({ dir: join(dir, 'plane') });
  try {
    await installGatewayApi(plane);
    const t0 = performance.now();
    const h = await startRewind({ config: config(n, plane.kubeconfig) });
    try {
      for (;;) {
        if ((await routes(plane)) >= n) break;
        if (performance.now() - t0 > 600_000) throw new Error(`${n} apps: not every route within 10 min`);
        await new Promise((r) => setTimeout(r, 200));
      }
      const converged = (performance.now() - t0) / 1000;
      await new Promise((r) => setTimeout(r, 3000));
      const pid = h.server.pid!;
      const cpu0 = cpuSeconds(pid);
      const req0 = await apiRequests(plane);
      await new Promise((r) => setTimeout(r, idleSeconds * 1000));
      const idleCpuMsPerS = ((cpuSeconds(pid) - cpu0) * 1000) / idleSeconds;
      const idleRequests = (await apiRequests(plane)) - req0;
      const rss = rssMb(pid);
      const d0 = performance.now();
      const reqD0 = await apiRequests(plane);
      const r = await h.cli('deploy', 'app-0', '--version', 'v2', '--wait', '--json');
      if (r.code !== 0) throw new Error(`deploy: ${r.stdout}${r.stderr}`);
      const deploySeconds = (performance.now() - d0) / 1000;
      const deployRequests = (await apiRequests(plane)) - reqD0;
      rows.push({
        apps: n,
        convergedSeconds: round(converged, 1),
        idleCpuMsPerS: round(idleCpuMsPerS, 1),
        cpuMsPerAppPerS: round(idleCpuMsPerS / n, 2),
        rssMb: round(rss, 0),
        deploySeconds: round(deploySeconds, 2),
        deployApiRequests: Math.round(deployRequests),
        idleApiRequestsSameSpan: Math.round((idleRequests / idleSeconds) * deploySeconds),
      });
    } finally {
      await h.close();
    }
  } finally {
    await plane.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
const report = {
  command: commandLine(),
  machine: { cpus: m0.cpus, loadavgAtStart: m0.loadavg, loadavgAtEnd: machine().loadavg },
  rows,
};
if (json) console.log(JSON.stringify(report, null, 2));
else {
  console.log(report.command);
  console.log(machineLine(report.machine));
  console.log(
    table(
      [
        'apps',
        'all routes up (s)',
        'idle CPU (ms/s)',
        'per app (ms/s)',
        'RSS (MB)',
        'one deploy (s)',
        'API requests in it',
        'idle, same span',
      ],
      rows.map((r) => [
        r.apps!,
        r.convergedSeconds!,
        r.idleCpuMsPerS!,
        r.cpuMsPerAppPerS!,
        r.rssMb!,
        r.deploySeconds!,
        r.deployApiRequests!,
        r.idleApiRequestsSameSpan!,
      ]),
    ),
  );
}
