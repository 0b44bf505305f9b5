// Lint precision and recall on the labelled corpus of bench/lint-corpus (labels.json: hazardous or
// safe, which hazard, tuning or held-out), Rewind's linter and squawk side by side on the same
// PostgreSQL files:
//  - Rewind: lintMigrations, the code `rewind db lint` runs, over a folder with bench/lint-corpus/
//    schema.sql as the earlier migration; a file is flagged when it gets an error (what makes
//    `rewind db lint` exit non-zero); warnings are not flags.
//  - squawk: `squawk-cli` from the npm registry, installed on demand into bench/.out/squawk
//    (gitignored; not a project dependency); a file is flagged when squawk reports any violation
//    (what makes it exit non-zero). Twice: with its default rules, and with its style and
//    robustness rules excluded (SQUAWK_STYLE_RULES), which would otherwise flag nearly every file.
//  - the union: flagged by Rewind or by squawk (default rules).
// Prints the files where a tool disagrees with the label, then per tool: precision, recall and
// false errors on safe files, overall, on the tuning part and on the held-out part.
//
//   node bench/lint.ts [--json]
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import {
  CORPUS_DIR,
  type CorpusEntry,
  lintCorpusEntry,
  loadCorpus,
  verdict,
} from '../test/support/lint-corpus.ts';
import { commandLine, machine, machineLine, table } from './lib/rewind-cycle.ts';

const run = promisify(execFile);
const json = process.argv.includes('--json');
const log = (line: string) => (json ? process.stderr : process.stdout).write(`${line}\n`);

const SQUAWK_VERSION = '2.66.0';
const SQUAWK_DIR = resolve(import.meta.dirname, '.out/squawk');
const SQUAWK_BIN = join(SQUAWK_DIR, 'node_modules/.bin/squawk');
/** squawk rules about style and re-runnability rather than a deploy hazard. */
const SQUAWK_STYLE_RULES = [
  'prefer-robust-stmts',
  'require-lock-timeout',
  'require-statement-timeout',
  'prefer-text-field',
  'prefer-bigint-over-int',
  'prefer-bigint-over-smallint',
  'prefer-identity',
  'prefer-timestamptz',
  'ban-char-field',
];

/** Installs squawk-cli into bench/.out/squawk unless it is there; the reason when it cannot. */
async function squawk(): Promise<{ bin: string } | { missing: string }> {
  if (!existsSync(SQUAWK_BIN)) {
    log(`installing squawk-cli@${SQUAWK_VERSION} into bench/.out/squawk ...`);
    try {
      await run('npm', [
        'install',
        '--no-save',
        '--no-package-lock',
        '--no-audit',
        '--no-fund',
        '--prefix',
        SQUAWK_DIR,
        `squawk-cli@${SQUAWK_VERSION}`,
      ]);
    } catch (err) {
      return { missing: `npm install squawk-cli@${SQUAWK_VERSION} failed: ${(err as Error).message.trim()}` };
    }
  }
  try {
    const { stdout } = await run(SQUAWK_BIN, ['--version']);
    if (!stdout.includes(SQUAWK_VERSION))
      return { missing: `expected squawk ${SQUAWK_VERSION}, got ${stdout.trim()}` };
  } catch (err) {
    return { missing: `${SQUAWK_BIN} does not run: ${(err as Error).message.trim()}` };
  }
  return { bin: SQUAWK_BIN };
}

/** squawk's rule names per corpus file (an empty list: no violation). */
async function squawkRules(bin: string, files: readonly string[], exclude: readonly string[]) {
  const args = ['--reporter', 'json', ...(exclude.length ? ['--exclude', exclude.join(',')] : []), ...files];
  // squawk exits 1 when it reports violations; its JSON is on stdout either way.
  const stdout = await run(bin, args, { cwd: CORPUS_DIR, maxBuffer: 64 << 20 }).then(
    (r) => r.stdout,
    (err: { stdout?: string; code?: number; message: string }) => {
      if (err.code === 1 && err.stdout) return err.stdout;
      throw new Error(`squawk failed: ${err.message}`);
    },
  );
  const out = new Map<string, string[]>(files.map((f) => [f, []]));
  for (const v of JSON.parse(stdout) as { file: string; rule_name: string; level: string }[]) {
    const rules = out.get(v.file);
    if (!rules) throw new Error(`squawk reported a file not in the corpus: ${v.file}`);
    rules.push(v.rule_name);
  }
  return out;
}

interface Row {
  readonly entry: CorpusEntry;
  /** Per tool: the rule codes it reported, and whether the file counts as flagged. */
  readonly tools: Record<string, { flagged: boolean; codes: string[] }>;
}

interface Score {
  tool: string;
  part: string;
  files: number;
  hazards: number;
  found: number;
  flaggedSafe: number;
  precision: number;
  recall: number;
}

function score(rows: readonly Row[], tool: string, part: string): Score {
  const hazards = rows.filter((r) => r.entry.hazardous);
  const found = hazards.filter((r) => r.tools[tool]!.flagged).length;
  const flaggedSafe = rows.filter((r) => !r.entry.hazardous && r.tools[tool]!.flagged).length;
  return {
    tool,
    part,
    files: rows.length,
    hazards: hazards.length,
    found,
    flaggedSafe,
    precision: found + flaggedSafe === 0 ? 1 : found / (found + flaggedSafe),
    recall: hazards.length === 0 ? 1 : found / hazards.length,
  };
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

async function main(): Promise<void> {
  const atStart = machine();
  const entries = await loadCorpus();
  const rows: Row[] = [];
  for (const entry of entries) {
    const l = await lintCorpusEntry(entry);
    const errors = l.findings.filter((f) => f.severity === 'error').map((f) => f.code);
    const warnings = l.findings.filter((f) => f.severity === 'warning').map((f) => `${f.code}(w)`);
    rows.push({
      entry,
      tools: { rewind: { flagged: verdict(l) === 'error', codes: [...errors, ...warnings] } },
    });
  }
  const tools = ['rewind'];
  const sq = await squawk();
  if ('bin' in sq) {
    const files = entries.map((e) => e.file);
    const [all, hazardOnly] = await Promise.all([
      squawkRules(sq.bin, files, []),
      squawkRules(sq.bin, files, SQUAWK_STYLE_RULES),
    ]);
    for (const r of rows) {
      const a = all.get(r.entry.file)!;
      const h = hazardOnly.get(r.entry.file)!;
      const rewind = r.tools.rewind!;
      r.tools.squawk = { flagged: a.length > 0, codes: [...new Set(a)] };
      r.tools['squawk (hazard rules)'] = { flagged: h.length > 0, codes: [...new Set(h)] };
      r.tools['rewind + squawk'] = { flagged: rewind.flagged || a.length > 0, codes: [] };
      r.tools['rewind + squawk (hazard rules)'] = { flagged: rewind.flagged || h.length > 0, codes: [] };
    }
    tools.push('squawk', 'squawk (hazard rules)', 'rewind + squawk', 'rewind + squawk (hazard rules)');
  } else {
    log(`squawk not available: ${sq.missing}`);
    // No comparison is not a pass.
    process.exitCode = 1;
  }

  const wrong = rows.filter((r) =>
    ['rewind', 'squawk', 'squawk (hazard rules)'].some(
      (t) => r.tools[t] && r.tools[t].flagged !== r.entry.hazardous,
    ),
  );
  log(`\nFiles where a tool disagrees with the label (${wrong.length} of ${rows.length}):`);
  // The rules each tool reported (Rewind's warnings as RWnnn(w)), prefixed when it is wrong; for
  // squawk's default rules only the verdict (they are the hazard rules plus the style ones).
  const mark = (r: Row, t: string, codes = true) => {
    const v = r.tools[t];
    if (!v) return 'n/a';
    const ok = v.flagged === r.entry.hazardous ? '' : v.flagged ? 'FALSE ERROR ' : 'MISSED ';
    return `${ok}${codes ? v.codes.join(' ') || '-' : v.flagged ? 'flagged' : '-'}`;
  };
  log(
    table(
      ['file', 'label', 'rewind', 'squawk (hazard rules)', 'squawk'],
      wrong.map((r) => [
        `${r.entry.file}`,
        r.entry.hazard ?? `safe (${r.entry.expect})`,
        mark(r, 'rewind'),
        mark(r, 'squawk (hazard rules)'),
        mark(r, 'squawk', false),
      ]),
    ),
  );

  const parts: [string, Row[]][] = [
    ['all', rows],
    ['tuning', rows.filter((r) => !r.entry.heldOut)],
    ['held-out', rows.filter((r) => r.entry.heldOut)],
  ];
  const scores = tools.flatMap((t) => parts.map(([p, rs]) => score(rs, t, p)));
  const rewindAll = scores.find((s) => s.tool === 'rewind' && s.part === 'all')!;
  const squawkAll = scores.find((s) => s.tool === 'squawk (hazard rules)' && s.part === 'all');
  const squawkDefault = scores.find((s) => s.tool === 'squawk' && s.part === 'all');
  const atEnd = machine();
  if (json) {
    process.stdout.write(`${JSON.stringify({ rows, scores, machine: { atStart, atEnd } }, null, 2)}\n`);
    return;
  }
  log(`\n${commandLine()}`);
  log(machineLine({ cpus: atStart.cpus, loadavgAtStart: atStart.loadavg, loadavgAtEnd: atEnd.loadavg }));
  const hazards = rows.filter((r) => r.entry.hazardous).length;
  log(
    `corpus: ${rows.length} PostgreSQL migrations, ${hazards} hazardous, ${rows.length - hazards} safe; ${parts[2]![1].length} held out`,
  );
  log(
    table(
      ['tool', 'part', 'files', 'hazards found', 'recall', 'precision', 'safe files flagged'],
      scores.map((s) => [
        s.tool,
        s.part,
        s.files,
        `${s.found}/${s.hazards}`,
        pct(s.recall),
        pct(s.precision),
        `${s.flaggedSafe}/${s.files - s.hazards}`,
      ]),
    ),
  );
  // Ahead: at least squawk's recall and a higher precision, against both of its configurations.
  const ahead =
    squawkAll && squawkDefault
      ? [squawkAll, squawkDefault].every(
          (q) => rewindAll.recall >= q.recall && rewindAll.precision > q.precision,
        )
      : null;
  log(
    `\ntargets: recall >= 90%: ${rewindAll.recall >= 0.9 ? 'met' : 'NOT met'} (${pct(rewindAll.recall)}); no safe file flagged as an error: ${rewindAll.flaggedSafe === 0 ? 'met' : `NOT met (${rewindAll.flaggedSafe})`}; ahead of squawk: ${ahead === null ? 'squawk not available' : ahead ? 'met' : 'NOT met'}`,
  );
}

await main();
