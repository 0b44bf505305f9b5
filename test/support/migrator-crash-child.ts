// A migrator run that dies on cue, for the crash tests (migrator-crash.test.ts): it migrates up,
// and SIGKILLs itself at the named step event (`up:1:sent`: the intent to run up statement 2 is
// recorded, the statement not yet sent). With `hang`, the statement waits behind a lock another
// session of this process holds, until the test kills the process.
// argv: engine url folder crashAt ['hang']

import { openDatabase } from '../../src/features/database/engines/registry.ts';
import { loadMigrations } from '../../src/features/database/migration-files.ts';
import { createMigrator } from '../../src/features/database/migrator.ts';
import type { DatabaseEngineName } from '../../src/features/database/types.ts';

const [engine, url, folder, crashAt, hang] = process.argv.slice(2) as [
  DatabaseEngineName,
  string,
  string,
  string,
  string?,
];
const db = await openDatabase(engine, url);
const migrations = await loadMigrations(folder, engine);
const result = await createMigrator(db, { app: 'shop' }).migrateUp(migrations, {
  lockTimeoutMs: 60_000,
  retries: 0,
  async onStep(e) {
    if (`${e.direction}:${e.index}:${e.at}` !== crashAt) return;
    if (!hang) process.kill(process.pid, 'SIGKILL');
    // MySQL: a second session of this process holds a metadata lock the ALTER waits for; when
    // the test kills the process, the lock goes and the server carries on with the orphaned
    // ALTER. (PostgreSQL: the test itself holds a snapshot the concurrent build waits out.)
    if (engine === 'mysql') {
      const holder = await openDatabase(engine, url);
      await holder.exec('start transaction');
      await holder.query('select count(*) as n from users');
    }
    process.stdout.write('sending\n');
  },
});
process.stdout.write(`${JSON.stringify(result)}\n`);
await db.close();
