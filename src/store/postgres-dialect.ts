// PostgreSQL through Kysely's PostgresDialect over a pg Pool.

import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Database } from './schema.ts';

const INT8_OID = 20;

/** int8 (bigint, bigserial, count(*)) as a JS number: timestamps in ms and event ids fit easily. */
function parseInt8(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new Error(`store: bigint ${value} does not fit a JS number`);
  return n;
}

const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID && format !== 'binary'
      ? parseInt8
      : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

export function createPostgresPool(connectionString: string, max = 10): pg.Pool {
  const pool = new pg.Pool({ connectionString, types, max });
  // An idle client that loses its server emits 'error' on the pool; without a listener that would
  // crash the process. The next query checks out a fresh client and reports the problem itself.
  pool.on('error', () => {});
  return pool;
}

export function createPostgresKysely(connectionString: string): Kysely<Database> {
  return new Kysely<Database>({
    dialect: new PostgresDialect({ pool: createPostgresPool(connectionString) }),
  });
}
