// Recognises constraint violations from either driver without the store knowing which one it runs on:
// pg errors carry a SQLSTATE `code` and the `constraint` name; node:sqlite errors carry an extended
// result `errcode` and name the columns in the message.

import type { UniqueKey } from './schema.ts';

const SQLITE_CONSTRAINT_FOREIGNKEY = 787;
const SQLITE_CONSTRAINT_PRIMARYKEY = 1555;
const SQLITE_CONSTRAINT_UNIQUE = 2067;

interface DriverError {
  code?: unknown;
  errcode?: unknown;
  constraint?: unknown;
  message?: unknown;
}

function asDriverError(err: unknown): DriverError | undefined {
  return typeof err === 'object' && err !== null ? (err as DriverError) : undefined;
}

export function isUniqueViolation(err: unknown, key: UniqueKey): boolean {
  const e = asDriverError(err);
  if (!e) return false;
  if (e.code === '23505') return e.constraint === key.name;
  if (e.errcode === SQLITE_CONSTRAINT_UNIQUE || e.errcode === SQLITE_CONSTRAINT_PRIMARYKEY) {
    return typeof e.message === 'string' && e.message.endsWith(`constraint failed: ${key.columns}`);
  }
  return false;
}

export function isForeignKeyViolation(err: unknown): boolean {
  const e = asDriverError(err);
  return e?.code === '23503' || e?.errcode === SQLITE_CONSTRAINT_FOREIGNKEY;
}
