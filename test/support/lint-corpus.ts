// The labelled PostgreSQL migration corpus of bench/lint-corpus (labels.json): loaded and checked
// here, linted by Rewind's linter the way `rewind db lint` lints a folder. Used by the corpus
// table test (npm test) and by bench/lint.ts, which also runs squawk on the same files.
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { lintMigrations } from '../../src/features/database/lint.ts';
import { loadMigrations } from '../../src/features/database/migration-files.ts';
import type { MigrationLint } from '../../src/features/database/types.ts';

export const CORPUS_DIR = resolve(import.meta.dirname, '../../bench/lint-corpus');

/** What Rewind should report for the file: an error (hazard), at most a warning, or nothing. */
export type Expect = 'error' | 'warning' | 'none';

export interface CorpusEntry {
  /** Path under bench/lint-corpus: tune/x.sql or held-out/x.sql. */
  readonly file: string;
  /** Written before the linter was tuned and never tuned against. */
  readonly heldOut: boolean;
  readonly hazardous: boolean;
  /** table-rewrite, lock, destructive, missing-concurrently, ...; null on a safe file. */
  readonly hazard: string | null;
  readonly expect: Expect;
  /** Where the migration's shape comes from (a doc page, a framework's generated SQL). */
  readonly source: string;
  /** Optional down file (path under bench/lint-corpus); without one the down is a no-op. */
  readonly down?: string;
  /** A held-out hazard Rewind is known to miss, and why; the corpus test keeps the list exact. */
  readonly knownMiss?: string;
}

export async function loadCorpus(): Promise<CorpusEntry[]> {
  const raw = JSON.parse(await readFile(join(CORPUS_DIR, 'labels.json'), 'utf8')) as CorpusEntry[];
  raw.forEach((e, i) => {
    const where = `bench/lint-corpus/labels.json[${i}] (${e.file})`;
    if (!EXPECTS.includes(e.expect))
      throw new Error(`${where}: expect is ${JSON.stringify(e.expect)}; use one of ${EXPECTS.join(', ')}`);
    if (e.hazardous !== (e.hazard !== null) || e.hazardous !== (e.expect === 'error'))
      throw new Error(
        `${where}: hazardous ${e.hazardous}, hazard ${JSON.stringify(e.hazard)} and expect ${e.expect} disagree; a hazardous file names its hazard and expects an error, a safe one has hazard null`,
      );
    if (e.knownMiss !== undefined && !(e.hazardous && e.heldOut))
      throw new Error(`${where}: knownMiss is for held-out hazardous files only`);
    if (e.heldOut !== e.file.startsWith('held-out/'))
      throw new Error(`${where}: heldOut is ${e.heldOut}, which does not match its folder`);
  });
  return raw;
}

const EXPECTS: readonly Expect[] = ['error', 'warning', 'none'];

/**
 * Lints one corpus file the way `rewind db lint` lints a folder: a temporary migrations folder
 * with schema.sql as 0001 (the earlier migrations that give the columns their types) and the file
 * as 0002, with its down file (a no-op unless the label names one).
 */
export async function lintCorpusEntry(e: CorpusEntry): Promise<MigrationLint> {
  const dir = await mkdtemp(join(tmpdir(), 'rewind-lint-corpus-'));
  try {
    const name = basename(e.file, '.sql');
    const copy = (from: string, to: string) => copyFile(join(CORPUS_DIR, from), join(dir, to));
    await copy('schema.sql', '0001_schema.up.sql');
    await writeFile(join(dir, '0001_schema.down.sql'), 'SELECT 1;\n');
    await copy(e.file, `0002_${name}.up.sql`);
    if (e.down) await copy(e.down, `0002_${name}.down.sql`);
    else await writeFile(join(dir, `0002_${name}.down.sql`), 'SELECT 1;\n');
    const lints = lintMigrations(await loadMigrations(dir, 'postgres'), 'postgres');
    return lints[1]!;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The worst severity among the findings: what the file is judged by. */
export function verdict(l: MigrationLint): Expect {
  if (l.findings.some((f) => f.severity === 'error')) return 'error';
  return l.findings.length > 0 ? 'warning' : 'none';
}
