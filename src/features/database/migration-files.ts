// Reads an app's migrations folder: `NNNN_name.up.sql` with an optional `NNNN_name.down.sql`,
// ordered by NNNN, header directives parsed. Anything malformed stops the load with an error
// naming the file and the fix; a missing down file is left to the linter (RW301).
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadPgParser } from './pg-ast.ts';
import { normalizeTableName, splitStatements } from './sql-split.ts';
import type { DatabaseEngineName, Migration, MigrationPhase } from './types.ts';

export class MigrationFileError extends Error {
  /** The file (or folder) at fault. */
  readonly file: string;
  /** What to do about it. */
  readonly fix: string;
  /** 1-based line in the file, when the problem is on one line. */
  readonly line: number | null;
  constructor(file: string, problem: string, fix: string, line: number | null = null) {
    super(`${file}${line === null ? '' : `:${line}`}: ${problem}. Fix: ${fix}`);
    this.name = 'MigrationFileError';
    this.file = file;
    this.fix = fix;
    this.line = line;
  }
}

const FILE_NAME = /^(\d+)_([a-z0-9_]+)\.(up|down)\.sql$/;
const DIRECTIVE = /^--\s*rewind:(\S*)\s*(.*?)\s*$/;
const TABLE_NAME = /^(?:[\p{L}_][\p{L}\p{N}_$]*\.)?[\p{L}_][\p{L}\p{N}_$]*$/u;

interface FileName {
  readonly file: string;
  readonly id: number;
  readonly name: string;
  readonly key: string;
}

export async function loadMigrations(dir: string, engine: DatabaseEngineName): Promise<Migration[]> {
  // The linter reads PostgreSQL migrations with PostgreSQL's own parser.
  if (engine === 'postgres') await loadPgParser();
  const entries = await listFolder(dir);
  const ups = new Map<string, FileName>();
  const downs = new Map<string, FileName>();
  for (const entry of entries) {
    if (!entry.isFile() && !entry.isSymbolicLink()) continue;
    if (!entry.name.toLowerCase().endsWith('.sql')) continue;
    const m = FILE_NAME.exec(entry.name);
    if (!m) {
      throw new MigrationFileError(
        join(dir, entry.name),
        'the file name does not follow NNNN_name.up.sql / NNNN_name.down.sql',
        'rename it, e.g. 0003_add_email.up.sql (digits, an underscore, then lower-case letters, digits and underscores), or move it out of the migrations folder',
      );
    }
    const [, digits = '', name = '', direction] = m;
    const parsed: FileName = { file: entry.name, id: Number(digits), name, key: `${digits}_${name}` };
    (direction === 'up' ? ups : downs).set(parsed.key, parsed);
  }

  const byId = new Map<number, FileName>();
  for (const up of ups.values()) {
    const other = byId.get(up.id);
    if (other) {
      const [a, b] = [other.file, up.file].sort();
      throw new MigrationFileError(
        join(dir, b ?? up.file),
        `migration number ${up.id} is also used by ${a}`,
        `give one of them the next free number (${nextFreeNumber(ups)}); numbers order the migrations and must be unique`,
      );
    }
    byId.set(up.id, up);
  }
  for (const down of downs.values()) {
    if (ups.has(down.key)) continue;
    const sameNumber = byId.get(down.id);
    throw new MigrationFileError(
      join(dir, down.file),
      'this down file has no matching up file',
      sameNumber
        ? `rename it to ${sameNumber.key}.down.sql to pair it with ${sameNumber.file}`
        : `add ${down.key}.up.sql, or delete the down file`,
    );
  }

  const ordered = [...ups.values()].sort((a, b) => a.id - b.id);
  return Promise.all(ordered.map((up) => loadOne(dir, up, downs.get(up.key) ?? null, engine)));
}

/** The migration level a folder brings a database to: its highest id, 0 for none. */
export function migrationLevel(migrations: readonly Migration[]): number {
  let level = 0;
  for (const m of migrations) if (m.id > level) level = m.id;
  return level;
}

async function listFolder(dir: string) {
  try {
    return await readdir(dir, { withFileTypes: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new MigrationFileError(
        dir,
        'the migrations folder does not exist',
        'create it, or point the app config at the folder that holds the NNNN_name.up.sql files',
      );
    }
    if (code === 'ENOTDIR') {
      throw new MigrationFileError(dir, 'this is a file, not a folder', 'point the app config at a folder');
    }
    throw err;
  }
}

async function loadOne(
  dir: string,
  up: FileName,
  down: FileName | null,
  engine: DatabaseEngineName,
): Promise<Migration> {
  const upPath = join(dir, up.file);
  const downPath = down ? join(dir, down.file) : null;
  const upBytes = await readFile(upPath);
  const upSql = decode(upBytes);
  const downSql = downPath ? decode(await readFile(downPath)) : null;
  const upStatements = splitStatements(upSql, engine);
  if (upStatements.length === 0) {
    throw new MigrationFileError(
      upPath,
      'the up file holds no SQL statement',
      'write the migration, or delete the file (and its down file) if it is not needed',
    );
  }
  const header = parseHeader(upPath, upSql);
  return {
    id: up.id,
    name: up.name,
    key: up.key,
    upPath,
    downPath,
    upSql,
    downSql,
    upStatements,
    downStatements: downSql === null ? [] : splitStatements(downSql, engine),
    declaredPhase: header.phase,
    declaredChanges: header.changes,
    checksum: createHash('sha256').update(upBytes).digest('hex'),
  };
}

function decode(bytes: Buffer): string {
  const text = bytes.toString('utf8');
  return text.startsWith('\uFEFF') ? text.slice(1) : text;
}

interface Header {
  readonly phase: MigrationPhase | null;
  readonly changes: readonly string[] | null;
}

/**
 * Directives live in the leading `--` comment lines of the up file. One found further down is an
 * error rather than silently ignored: the author meant it to count.
 */
function parseHeader(file: string, sql: string): Header {
  let phase: MigrationPhase | null = null;
  let changes: string[] | null = null;
  let inHeader = true;
  const lines = sql.split(/\r?\n/);
  for (const [index, raw] of lines.entries()) {
    const line = raw.trim();
    const at = index + 1;
    if (inHeader && line !== '' && !line.startsWith('--')) inHeader = false;
    const m = DIRECTIVE.exec(line);
    if (!m) continue;
    const [, name = '', value = ''] = m;
    if (!inHeader) {
      throw new MigrationFileError(
        file,
        `the directive rewind:${name} comes after the first statement and would be ignored`,
        'move it into the comment lines at the top of the file',
        at,
      );
    }
    if (name === 'phase') {
      if (phase !== null) throw duplicate(file, at, name);
      if (value !== 'expand' && value !== 'contract') {
        throw new MigrationFileError(
          file,
          `rewind:phase "${value}" is not a phase`,
          'write "-- rewind:phase expand" (runs before the new revision takes traffic) or "-- rewind:phase contract" (runs after the rollout is complete)',
          at,
        );
      }
      phase = value;
    } else if (name === 'changes') {
      if (changes !== null) throw duplicate(file, at, name);
      changes = parseChanges(file, at, value);
    } else {
      throw new MigrationFileError(
        file,
        `unknown directive rewind:${name}`,
        'use "-- rewind:phase expand|contract" or "-- rewind:changes table_a, table_b" (or "none")',
        at,
      );
    }
  }
  return { phase, changes };
}

function parseChanges(file: string, line: number, value: string): string[] {
  if (value.toLowerCase() === 'none') return [];
  const names = value.split(',').map((s) => s.trim());
  const bad = names.find((s) => !TABLE_NAME.test(s));
  if (value === '' || bad !== undefined) {
    throw new MigrationFileError(
      file,
      value === ''
        ? 'rewind:changes lists no table'
        : `rewind:changes has "${bad}", which is not a table name`,
      'list table names separated by commas ("-- rewind:changes orders, order_items"), or write "-- rewind:changes none"',
      line,
    );
  }
  return [...new Set(names.map(normalizeTableName))];
}

function duplicate(file: string, line: number, name: string): MigrationFileError {
  return new MigrationFileError(file, `rewind:${name} is given twice`, `keep one rewind:${name} line`, line);
}

function nextFreeNumber(ups: ReadonlyMap<string, FileName>): number {
  let max = 0;
  for (const up of ups.values()) if (up.id > max) max = up.id;
  return max + 1;
}
