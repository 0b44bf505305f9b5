// `npm run bench [-- NAME ...]`: runs the benchmarks one after another (all by default) on
// Node >= 22.12. Each prints its own table; results are recorded in docs/benchmarks.md.
import { spawnSync } from 'node:child_process';
import { ensureNode } from '../scripts/ensure-node.js';

ensureNode();
const ALL = [
  'proxy',
  'switch',
  'zero-downtime',
  'detection',
  'false-alarms',
  'judge-compare',
  'safe-defaults',
  'controller-scale',
  'resource-metrics',
  'idle',
  'db',
  'db-restore',
  'db-roundtrip',
  'lint',
  'flags',
  'flags-sync',
  'ofrep',
  'flag-reload',
  'guard',
  'auth',
  'recovery',
  'drill',
  'fuzz',
  'cli',
  'dashboard',
  'maintenance',
  'kube-rollback',
  'kube-scale',
  'failover',
];
// The guard re-runs short versions of the others: it runs when named (`npm run bench:guard`),
// not as part of the full run.
const DEFAULT = ALL.filter((name) => name !== 'guard');
const [first, ...rest] = process.argv.slice(2);
const names = first && ALL.includes(first) ? [first] : DEFAULT;
const extra = first && ALL.includes(first) ? rest : process.argv.slice(2);
let failed = 0;
for (const name of names) {
  process.stdout.write(`\n=== bench/${name}.ts ${extra.join(' ')}\n`);
  const r = spawnSync(process.execPath, [`bench/${name}.ts`, ...extra], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
