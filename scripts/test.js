// `npm test`: lint and types, then unit and integration tests with node's test runner, on Node >= 22.12.
import { spawnSync } from 'node:child_process';
import { ensureNode } from './ensure-node.js';

ensureNode();
const run = (cmd, args) => spawnSync(cmd, args, { stdio: 'inherit' }).status ?? 1;
const files = process.argv.slice(2);
if (files.length === 0) {
  for (const [cmd, args] of [
    ['npx', ['biome', 'check', '.']],
    ['npx', ['tsc', '--noEmit']],
    ['npx', ['depcruise', '--config', '.dependency-cruiser.cjs', '--output-type', 'err', 'src']],
  ]) {
    const status = run(cmd, args);
    if (status !== 0) process.exit(status);
  }
}
const patterns = files.length ? files : ['src/**/*.test.ts', 'test/**/*.test.ts'];
process.exit(run(process.execPath, ['--test', '--test-concurrency=2', '--test-timeout=120000', ...patterns]));
