// BEGIN, the work, COMMIT; ROLLBACK and rethrow when the work throws. The engines differ only in
// how they begin (PostgreSQL `begin`, MySQL `start transaction`).

export async function inTransaction<T>(
  exec: (sql: string) => Promise<void>,
  begin: string,
  fn: () => Promise<T>,
): Promise<T> {
  await exec(begin);
  try {
    const result = await fn();
    await exec('commit');
    return result;
  } catch (err) {
    await exec('rollback').catch(() => {});
    throw err;
  }
}
