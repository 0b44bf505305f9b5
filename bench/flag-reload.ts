// What a flag-set change costs the thread that serves OFREP: building the evaluator for the
// bench's 20-flag set (bench/lib/ofrep-flag-set.ts) from nothing, and from the evaluator in force
// when one flag changed (only that flag is loaded again). Warm, in this process.
//
//   node bench/flag-reload.ts [--builds 300]
import { performance } from 'node:perf_hooks';
import { createFlagEvaluator, type FlagEvaluator } from '../src/features/flags/flag-evaluator.ts';
import { parseFlagSet } from '../src/features/flags/flag-set.ts';
import { DOCUMENT } from './lib/ofrep-flag-set.ts';
import { commandLine, intFlag, machine, machineLine, round } from './lib/rewind-cycle.ts';

const builds = intFlag(process.argv.slice(2), 'builds', 300);
const set = parseFlagSet(DOCUMENT);
const [key, flag] = Object.entries(set.flags)[0]!;
const edited = parseFlagSet({
  ...DOCUMENT,
  flags: { ...DOCUMENT.flags, [key]: { ...flag, state: flag.state === 'DISABLED' ? 'ENABLED' : 'DISABLED' } },
});
const inForce = createFlagEvaluator(set);

const msPerBuild = (build: () => FlagEvaluator): number => {
  for (let i = 0; i < 50; i++) build();
  const t0 = performance.now();
  for (let i = 0; i < builds; i++) build();
  return (performance.now() - t0) / builds;
};
const full = msPerBuild(() => createFlagEvaluator(set));
const one = msPerBuild(() => createFlagEvaluator(edited, inForce));
console.log(`command: ${commandLine()}`);
console.log(
  machineLine({ cpus: machine().cpus, loadavgAtStart: machine().loadavg, loadavgAtEnd: machine().loadavg }),
);
console.log(`flag set: ${Object.keys(set.flags).length} flags; ${builds} warm builds each`);
console.log(`full load:                               ${round(full, 3)} ms per build`);
console.log(`one flag changed, from the one in force: ${round(one, 3)} ms per build`);
