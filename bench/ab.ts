// Side by side with an earlier commit, in one run: checks the commit out beside this tree (a git
// worktree under .bench-ab/, installed once), then runs the same benchmark in both trees,
// alternating, so that both see the same machine. Each run's own output is printed under its label.
//
//   node bench/ab.ts --ref acc922a [--rounds 2] -- switch.ts --cycles 20
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { machine } from './lib/rewind-cycle.ts';

const ROOT = resolve(import.meta.dirname, '..');
const args = process.argv.slice(2);
const dash = args.indexOf('--');
const own = dash >= 0 ? args.slice(0, dash) : args;
const bench = dash >= 0 ? args.slice(dash + 1) : [];
const flag = (name: string) => {
  const i = own.indexOf(`--${name}`);
  return i >= 0 ? own[i + 1] : undefined;
};
const ref = flag('ref');
const rounds = Number(flag('rounds') ?? 2);
if (!ref || bench.length === 0 || !Number.isInteger(rounds) || rounds < 1) {
  process.stderr.write(
    'usage: node bench/ab.ts --ref COMMIT [--rounds N] -- BENCH.ts [its flags]\n  e.g. node bench/ab.ts --ref acc922a -- switch.ts --cycles 20\n',
  );
  process.exit(1);
}

const git = (...a: string[]) => spawnSync('git', a, { cwd: ROOT, encoding: 'utf8' });
const sha = git('rev-parse', '--short', ref).stdout.trim();
if (!sha) {
  process.stderr.write(`ref: "${ref}" is not a commit of this repository; give a commit or tag\n`);
  process.exit(1);
}
const head = git('rev-parse', '--short', 'HEAD').stdout.trim();
const dirty = git('status', '--porcelain', '--untracked-files=no').stdout.trim() !== '';
const other = join(ROOT, '.bench-ab', sha);
if (!existsSync(other)) {
  mkdirSync(join(ROOT, '.bench-ab'), { recursive: true });
  const add = git('worktree', 'add', '--detach', other, sha);
  if (add.status !== 0) {
    process.stderr.write(add.stderr);
    process.exit(1);
  }
}
if (!existsSync(join(other, 'node_modules'))) {
  process.stdout.write(`installing ${sha} in ${other}...\n`);
  const r = spawnSync('npm', ['install', '--no-audit', '--no-fund'], { cwd: other, stdio: 'inherit' });
  if (r.status !== 0) process.exit(1);
}

const m = machine();
process.stdout.write(
  `A/B: ${sha} vs ${head}${dirty ? ' (with uncommitted changes)' : ''}; ${rounds} round(s) of bench/${bench.join(' ')}; ${m.cpus} CPUs, load average ${m.loadavg.join(' ')} at start\n`,
);
let failed = 0;
for (let round = 1; round <= rounds; round++) {
  for (const [label, dir] of [
    [sha, other],
    [`${head}${dirty ? '+' : ''}`, ROOT],
  ] as const) {
    process.stdout.write(`\n=== round ${round}: ${label} (${dir}) bench/${bench.join(' ')}\n`);
    const r = spawnSync(process.execPath, [join('bench', bench[0]!), ...bench.slice(1)], {
      cwd: dir,
      stdio: 'inherit',
    });
    if (r.status !== 0) failed++;
  }
}
process.exit(failed ? 1 : 0);
