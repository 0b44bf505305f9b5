// Backup ids end up inside identifiers (`<backupId>__<table>`), so they are checked once here
// instead of being quoted differently by each engine.

const BACKUP_ID = /^[a-z0-9]+(_[a-z0-9]+)*$/;

export function assertBackupId(backupId: string): void {
  if (!BACKUP_ID.test(backupId) || backupId.length > 40) {
    throw new Error(
      `backup id "${backupId}" is invalid: use 1-40 lowercase letters, digits and single underscores ` +
        '(e.g. bk_20240501120000_a1b2); it becomes part of table names',
    );
  }
}

/** `<backupId>__<table>`; PostgreSQL and MySQL cap identifiers at 63/64 characters. */
export function backupTableName(
  backupId: string,
  table: string,
  maxLength = Number.POSITIVE_INFINITY,
): string {
  assertBackupId(backupId);
  const name = `${backupId}__${table}`;
  if (name.length > maxLength) {
    throw new Error(
      `backup table name "${name}" is ${name.length} characters, over the engine's limit of ${maxLength}: ` +
        'use a shorter backup id',
    );
  }
  return name;
}

/** The backup id of a backup table name, or null when the name is not one. */
export function backupIdOf(tableName: string): string | null {
  const at = tableName.indexOf('__');
  if (at <= 0) return null;
  const id = tableName.slice(0, at);
  return BACKUP_ID.test(id) ? id : null;
}
