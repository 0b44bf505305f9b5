// The one place that maps an engine name to its implementation; callers never switch on it.

import type { DatabaseEngineName } from '../types.ts';
import { openMysql } from './mysql.ts';
import { openPostgres } from './postgres.ts';
import { openSqlite } from './sqlite.ts';
import type { DatabaseEngine } from './types.ts';

const OPENERS: Readonly<Record<DatabaseEngineName, (url: string) => Promise<DatabaseEngine>>> = {
  postgres: openPostgres,
  mysql: openMysql,
  sqlite: openSqlite,
};

const URL_FORMS: Readonly<Record<DatabaseEngineName, string>> = {
  postgres: 'postgres://user:password@host:5432/database',
  mysql: 'mysql://user:password@host:3306/database',
  sqlite: 'sqlite:///absolute/path.db or a file path',
};

export const DATABASE_ENGINES = Object.keys(OPENERS) as DatabaseEngineName[];

/** Opens one connection; the error names the engine, the URL (password hidden) and the form expected. */
export async function openDatabase(engine: DatabaseEngineName, url: string): Promise<DatabaseEngine> {
  const open = OPENERS[engine];
  if (!open) {
    throw new Error(
      `database engine "${engine}" is not supported: use one of ${DATABASE_ENGINES.join(', ')}`,
    );
  }
  try {
    return await open(url);
  } catch (err) {
    const why = err instanceof Error ? err.message || (err as { code?: string }).code : String(err);
    throw new Error(
      `cannot open ${engine} database ${redactUrl(url)}: ${why} (expected ${URL_FORMS[engine]})`,
      {
        cause: err,
      },
    );
  }
}

/** The URL with its password replaced, safe for errors and logs. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*):[^@/]*@/i, '$1:***@');
}
