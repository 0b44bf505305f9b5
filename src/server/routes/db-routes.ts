// `rewind db ...` over HTTP: plan, lint, migrate, contract, rollback, backup, restore, verify of
// an app's database. Operations that change the database wait for the app to be idle (no
// rollout in progress) and are serialised with the reconcile loop.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import {
  appParams,
  dbBackupBody,
  dbContractBody,
  dbMigrateBody,
  dbRestoreBody,
  dbRollbackBody,
  dbRoundTripBody,
  dbVerifyBody,
  versionQuery,
} from '../../api/requests.ts';
import { anObject } from '../../api/responses.ts';
import type { DatabaseService } from '../../features/database/database-service.ts';
import { parseRevisionSpec } from '../../features/revisions/revision-spec.ts';
import { checkVersion } from '../../features/rollouts/controller.ts';
import { RewindError } from '../../shared/errors.ts';
import type { RevisionRecord } from '../../store/types.ts';
import { errors, type RouteDeps } from './route-kit.ts';

/** What a database operation answers (features/database): its own shape, documented in docs/database.md. */
const result = { 200: anObject(), ...errors };

export const dbRoutes: FastifyPluginAsyncZod<RouteDeps> = async (app, deps) => {
  const { database, controller, store } = deps;
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
  const versionOf = async (name: string, version: string | undefined) => {
    if (version !== undefined) {
      checkVersion(version);
      return version;
    }
    const stable = await stableOf(name);
    if (!stable) throw noStable(name);
    return stable.version;
  };
  const levelOf = (rev: RevisionRecord) => parseRevisionSpec(rev.spec).migrationLevel;
  const asResult = (r: Awaited<ReturnType<DatabaseService['undo']>>) => {
    if (!r.ok) throw new RewindError('INVALID_STATE', r.reason, { result: r.data });
    return r;
  };

  app.get(
    '/api/v1/apps/:app/db/plan',
    {
      schema: {
        summary:
          'Migration level, applied and pending migrations of a version (default: the stable one), and when each runs',
        params: appParams,
        querystring: versionQuery,
        response: result,
      },
    },
    async (req) => {
      const ctx = controller.context(req.params.app);
      return database.plan(ctx, await versionOf(req.params.app, req.query.version));
    },
  );
  app.get(
    '/api/v1/apps/:app/db/lint',
    {
      schema: {
        summary: "Expand/contract classification and findings of a version's migrations",
        params: appParams,
        querystring: versionQuery,
        response: result,
      },
    },
    async (req) => {
      const ctx = controller.context(req.params.app);
      const version = await versionOf(req.params.app, req.query.version);
      const lints = database.lint(ctx, await database.migrations(ctx, version));
      return { app: req.params.app, version, migrations: lints };
    },
  );
  // A scratch copy, never the app's database: it changes nothing, so it needs what lint needs.
  app.post(
    '/api/v1/apps/:app/db/roundtrip',
    {
      schema: {
        summary:
          "Round-trip a version's pending migrations on a scratch copy of the app's schema: up, down, compare (differences named), up again",
        params: appParams,
        body: dbRoundTripBody,
        response: result,
      },
    },
    async (req) => {
      const body = req.body;
      const ctx = controller.context(req.params.app);
      let version = body.version;
      if (version !== undefined) checkVersion(version);
      else {
        const stable = await stableOf(req.params.app);
        if (!stable) throw noStable(req.params.app);
        version = stable.version;
      }
      return database.roundTrip(ctx, version);
    },
  );
  app.get(
    '/api/v1/apps/:app/db/backups',
    { schema: { summary: 'Backups taken, newest first', params: appParams, response: result } },
    async (req) => database.backups(controller.context(req.params.app)),
  );

  app.post(
    '/api/v1/apps/:app/db/migrate',
    {
      schema: {
        summary: "Run the stable revision's pending migrations (while no rollout runs)",
        params: appParams,
        body: dbMigrateBody,
        response: result,
      },
    },
    async (req) => {
      const body = req.body;
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
    },
  );
  app.post(
    '/api/v1/apps/:app/db/contract',
    {
      schema: {
        summary: "Run the stable revision's contract migrations, each after a backup",
        params: appParams,
        body: dbContractBody,
        response: result,
      },
    },
    async (req) => {
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
    },
  );
  app.post(
    '/api/v1/apps/:app/db/rollback',
    {
      schema: {
        summary: "Undo migrations down to a level or a revision's level",
        params: appParams,
        body: dbRollbackBody,
        response: result,
      },
    },
    async (req) => {
      const body = req.body;
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
    },
  );
  app.post(
    '/api/v1/apps/:app/db/backup',
    {
      schema: {
        summary: 'Back up tables (default: all)',
        params: appParams,
        body: dbBackupBody,
        response: result,
      },
    },
    async (req) => {
      const body = req.body;
      return controller.whileIdle(req.params.app, async (ctx, stable) =>
        database.backup(ctx, body.tables ?? null, stable?.number ?? null),
      );
    },
  );
  app.post(
    '/api/v1/apps/:app/db/restore',
    {
      schema: {
        summary: "Put back the rows backed up before a revision's contract migrations",
        params: appParams,
        body: dbRestoreBody,
        response: result,
      },
    },
    async (req) => {
      const body = req.body;
      if (body.confirm && !body.overwrite)
        throw new RewindError(
          'VALIDATION_FAILED',
          'confirm is only for overwrite: add overwrite: true or drop confirm',
          { field: 'confirm' },
        );
      const overwrite = body.overwrite === true;
      const dryRun = overwrite && body.confirm !== true;
      return controller.whileIdle(
        req.params.app,
        async (ctx) => ({
          dryRun,
          restored: await database.restore(ctx, body.toRevision, { overwrite, dryRun }),
        }),
        overwrite && !dryRun ? `db restore --overwrite of revision ${body.toRevision}` : undefined,
      );
    },
  );
  app.post(
    '/api/v1/apps/:app/db/verify',
    {
      schema: {
        summary: 'Schema fingerprint, unchanged data, foreign keys',
        params: appParams,
        body: dbVerifyBody,
        response: result,
      },
    },
    async (req) => {
      const body = req.body;
      const ctx = controller.context(req.params.app);
      let level = body.level;
      if (level === undefined) {
        const stable = await stableOf(req.params.app);
        if (!stable) throw noStable(req.params.app);
        level = levelOf(stable) ?? 0;
      }
      return database.verifyNow(ctx, level);
    },
  );
};
