// `npm test`: lint and types, the dashboard's build, then unit and integration tests with node's
// test runner, on Node >= 22.12. With file arguments, only those tests (after the build).
import { spawnSync } from 'node:child_process';
import { ensureNode } from './ensure-node.js';
import { ensureTestTools } from './ensure-test-tools.js';

ensureNode();
ensureTestTools();
const run = (cmd, args) => spawnSync(cmd, args, { stdio: 'inherit' }).status ?? 1;
const files = process.argv.slice(2);
const steps = [
  ...(files.length === 0
    ? [
        ['npx', ['biome', 'check', '.']],
        ['npx', ['tsc', '--noEmit']],
        ['npx', ['tsc', '-p', 'web', '--noEmit']],
        ['npx', ['depcruise', '--config', '.dependency-cruiser.cjs', '--output-type', 'err', 'src']],
      ]
    : []),
  // The browser tests load the built dashboard.
  [process.execPath, ['scripts/build-web.js']],
];
for (const [cmd, args] of steps) {
  const status = run(cmd, args);
  if (status !== 0) process.exit(status);
}
// The Kubernetes tests' control plane, built with Go before the tests start (once per set of
// versions; minutes the first time), so that the build does not compete with timed tests. A
// failure here is reported again, with its reason, by the tests that need it.
if (files.length === 0 || files.some((f) => f.includes('kubernetes')))
  run(process.execPath, ['scripts/kube-testenv.ts', 'build']);
// --test-force-exit: a test file whose tests have ended but that left a handle open (a child it
// failed to kill) ends there, failing what failed, instead of holding the run until CI's limit.
const patterns = files.length ? files : ['src/**/*.test.ts', 'test/**/*.test.ts', 'web/src/**/*.test.ts'];
process.exit(
  run(process.execPath, [
    '--test',
    '--test-concurrency=2',
    '--test-timeout=120000',
    '--test-force-exit',
    ...patterns,
  ]),
);
