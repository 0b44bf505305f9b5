// `rewind db ...` over HTTP: plan, lint, migrate, contract, rollback, backup, restore, verify of
// an app's database. Operations that change the database wait for the app to be idle (no
// rollout in progress) and are serialised with the reconcile loop.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { DatabaseService } from '../features/database/database-service.ts';
import { parseRevisionSpec } from '../features/revisions/revision-spec.ts';
import { type Controller, checkVersion } from '../features/rollouts/controller.ts';
import { RewindError } from '../shared/errors.ts';
import type { RevisionRecord, Store } from '../store/types.ts';

export const dbMigrateBody = z.strictObject({
  phase: z
    .enum(['expand', 'all'])
    .default('all')
    .describe('expand: only what runs before traffic; all: everything pending'),
});
export const dbRollbackBody = z.strictObject({
  toLevel: z.number().int().min(0).optional().describe('Undo migrations above this level'),
  toRevision: z.number().int().positive().optional().describe("Undo down to this revision's migration level"),
});
export const dbBackupBody = z.strictObject({ tables: z.array(z.string()).optional() });
export const dbRestoreBody = z.strictObject({
  toRevision: z
    .number()
    .int()
    .positive()
    .describe("Merge back what this revision's contract migrations removed (rows written since are kept)"),
  overwrite: z
    .boolean()
    .optional()
    .describe("Destructive: make the tables the backup's rows exactly; without confirm only a preview"),
  confirm: z.boolean().optional().describe('With overwrite: really delete the rows the preview listed'),
});
export const dbVerifyBody = z.strictObject({ level: z.number().int().min(0).optional() });
export const dbRoundTripBody = z.strictObject({
  version: z
    .string()
    .optional()
    .describe("The version whose pending migrations to round-trip (default: the stable revision's)"),
});

export interface DbRouteDeps {
  readonly database: DatabaseService;
  readonly controller: Controller;
  readonly store: Store;
  readonly parse: <T extends z.ZodType>(schema: T, body: unknown) => z.output<T>;
}

type Req = FastifyRequest<{ Params: { app: string }; Querystring: { version?: string } }>;

export function registerDbRoutes(app: FastifyInstance, deps: DbRouteDeps): void {
  const { database, controller, store, parse } = deps;
  const noStable = (name: string) =>
    new RewindError(
      'NO_EARLIER_REVISION',
      `app ${name} has no revision yet; deploy one first or pass --version`,
      { app: name },
    );
  const stableOf = async (name: string): Promise<RevisionRecord | undefined> => {
    const n = (await store.apps.get(name))?.stableRevision;
    return n == null ? undefined : store.revisions.get(name, n);
  };
  const versionOf = async (req: Req) => {
    if (req.query.version !== undefined) {
      checkVersion(req.query.version);
      return req.query.version;
    }
    const stable = await stableOf(req.params.app);
    if (!stable) throw noStable(req.params.app);
    return stable.version;
  };
  const levelOf = (rev: RevisionRecord) => parseRevisionSpec(rev.spec).migrationLevel;
  const asResult = (r: Awaited<ReturnType<DatabaseService['undo']>>) => {
    if (!r.ok) throw new RewindError('INVALID_STATE', r.reason, { result: r.data });
    return r;
  };

  app.get('/api/v1/apps/:app/db/plan', async (req: Req) => {
    const ctx = controller.context(req.params.app);
    return database.plan(ctx, await versionOf(req));
  });
  app.get('/api/v1/apps/:app/db/lint', async (req: Req) => {
    const ctx = controller.context(req.params.app);
    const version = await versionOf(req);
    const lints = database.lint(ctx, await database.migrations(ctx, version));
    return { app: req.params.app, version, migrations: lints };
  });
  // A scratch copy, never the app's database: it changes nothing, so it needs what lint needs.
  app.post('/api/v1/apps/:app/db/roundtrip', async (req: Req) => {
    const body = parse(dbRoundTripBody, req.body);
    const ctx = controller.context(req.params.app);
    let version = body.version;
    if (version !== undefined) checkVersion(version);
    else {
      const stable = await stableOf(req.params.app);
      if (!stable) throw noStable(req.params.app);
      version = stable.version;
    }
    return database.roundTrip(ctx, version);
  });
  app.get('/api/v1/apps/:app/db/backups', async (req: Req) =>
    database.backups(controller.context(req.params.app)),
  );

  app.post('/api/v1/apps/:app/db/migrate', async (req: Req) => {
    const body = parse(dbMigrateBody, req.body);
    return controller.whileIdle(req.params.app, async (ctx, stable) => {
      if (!stable) throw noStable(req.params.app);
      const level = levelOf(stable);
      return asResult(
        await database.migrate(
          ctx,
          { number: stable.number, version: stable.version, migrationLevel: level },
          body.phase,
        ),
      );
    });
  });
  app.post('/api/v1/apps/:app/db/contract', async (req: Req) => {
    parse(z.strictObject({}), req.body);
    return controller.whileIdle(req.params.app, async (ctx, stable) => {
      if (!stable) throw noStable(req.params.app);
      return asResult(
        await database.contract(
          ctx,
          { number: stable.number, version: stable.version, migrationLevel: levelOf(stable) },
          'manual',
        ),
      );
    });
  });
  app.post('/api/v1/apps/:app/db/rollback', async (req: Req) => {
    const body = parse(dbRollbackBody, req.body);
    if ((body.toLevel === undefined) === (body.toRevision === undefined))
      throw new RewindError('VALIDATION_FAILED', 'give exactly one of toLevel or toRevision', {
        field: 'toLevel',
      });
    return controller.whileIdle(req.params.app, async (ctx) => {
      let level = body.toLevel;
      if (body.toRevision !== undefined) {
        const rev = await store.revisions.get(req.params.app, body.toRevision);
        if (!rev)
          throw new RewindError(
            'REVISION_NOT_FOUND',
            `app ${req.params.app} has no revision ${body.toRevision}`,
            { field: 'toRevision' },
          );
        level = levelOf(rev) ?? 0;
      }
      return asResult(await database.undo(ctx, level ?? 0, 'all', 'manual'));
    });
  });
  app.post('/api/v1/apps/:app/db/backup', async (req: Req) => {
    const body = parse(dbBackupBody, req.body);
    return controller.whileIdle(req.params.app, async (ctx, stable) =>
      database.backup(ctx, body.tables ?? null, stable?.number ?? null),
    );
  });
  app.post('/api/v1/apps/:app/db/restore', async (req: Req) => {
    const body = parse(dbRestoreBody, req.body);
    if (body.confirm && !body.overwrite)
      throw new RewindError(
        'VALIDATION_FAILED',
        'confirm is only for overwrite: add overwrite: true or drop confirm',
        { field: 'confirm' },
      );
    const overwrite = body.overwrite === true;
    const dryRun = overwrite && body.confirm !== true;
    return controller.whileIdle(req.params.app, async (ctx) => ({
      dryRun,
      restored: await database.restore(ctx, body.toRevision, { overwrite, dryRun }),
    }));
  });
  app.post('/api/v1/apps/:app/db/verify', async (req: Req) => {
    const body = parse(dbVerifyBody, req.body);
    const ctx = controller.context(req.params.app);
    let level = body.level;
    if (level === undefined) {
      const stable = await stableOf(req.params.app);
      if (!stable) throw noStable(req.params.app);
      level = levelOf(stable) ?? 0;
    }
    return database.verifyNow(ctx, level);
  });
}
