// Differential fuzzing, the long run: generated and mutated pipelined requests framed by Rewind's
// proxy parser and by llhttp (Node's http parser), compared message by message (see
// test/support/http-fuzz.ts for the rules and the differences allowed on purpose).
//
//   node bench/fuzz.ts [--seconds 60] [--seed 1]
//
// Prints messages per second, the count run and any input framed differently (exit 1 then).

import { availableParallelism } from 'node:os';
import { fuzz } from '../test/support/http-fuzz.ts';

const argv = process.argv.slice(2);
const flag = (name: string, fallback: number): number => {
  const i = argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(argv[i + 1]) : fallback;
  if (!Number.isFinite(v) || v <= 0) {
    process.stderr.write(
      `--${name}: "${argv[i + 1]}" is not a positive number; e.g. --${name} ${fallback}\n`,
    );
    process.exit(2);
  }
  return v;
};
if (argv.includes('--help') || argv.includes('-h')) {
  process.stdout.write('node bench/fuzz.ts [--seconds 60] [--seed 1]\n');
  process.exit(0);
}
const seconds = flag('seconds', 60);
const seed = flag('seed', 1);
const r = fuzz(seed, Number.POSITIVE_INFINITY, seconds * 1000);
const rate = r.messages / (r.ms / 1000);
process.stdout.write(
  `differential fuzz vs llhttp ${process.versions.llhttp}, Node ${process.version}, seed ${seed}, ${availableParallelism()} CPUs\n` +
    `  inputs run:          ${r.messages} in ${(r.ms / 1000).toFixed(1)} s (${rate.toFixed(0)} inputs/s, one thread)\n` +
    `  both accepted whole: ${r.agreed}\n` +
    `  Rewind stricter:     ${r.stricter} (rejected where llhttp framed more requests)\n` +
    `  framed differently:  ${r.failures.length}\n`,
);
for (const f of r.failures) process.stdout.write(`  FAIL ${f.problem}\n       input ${f.input}\n`);
process.exit(r.failures.length > 0 ? 1 : 0);
