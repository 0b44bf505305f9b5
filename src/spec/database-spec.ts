// The `database:` section of an app in rewind.yaml: which database the app's migrations run on,
// where the migrations of each version live, and how carefully they are run.
import { resolve } from 'node:path';
import { z } from 'zod';
import { durationSchema } from '../shared/duration-schema.ts';

export const databaseSpecSchema = z
  .strictObject({
    engine: z.enum(['postgres', 'mysql', 'sqlite'], {
      error: (issue) =>
        `"${String(issue.input)}" is not an engine Rewind migrates; use postgres, mysql or sqlite`,
    }),
    /** Connection URL (postgres://..., mysql://..., sqlite:///abs/file.db or a file path). */
    url: z.string().min(1).optional(),
    /** Or the name of an environment variable of the server that holds the URL. */
    urlEnv: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name: letters, digits and _')
      .optional(),
    /** Folder of NNNN_name.up.sql / .down.sql pairs, relative to rewind.yaml; may use ${version}. */
    migrations: z
      .string()
      .min(1, 'give the folder of the migrations, e.g. ./migrations or ./releases/${version}/migrations'),
    /** How long one statement may wait for a lock before the migration gives up (and is retried). */
    lockTimeout: durationSchema('2s').default(2000),
    retries: z.number().int().min(0).max(20).default(3),
    retryDelay: durationSchema('500ms').default(500),
    /** auto: contract migrations run once the rollout is complete and baked; manual: on `rewind db contract`. */
    contract: z.enum(['auto', 'manual']).default('auto'),
    /** Backups of the tables a contract migration touches, taken before it runs. */
    backup: z
      .union([z.literal(false), z.strictObject({ keep: z.number().int().min(1).max(1000).default(5) })])
      .default({ keep: 5 }),
    verify: z
      .strictObject({
        /** Tables above this many rows are compared by count only, not by checksum. */
        checksumRowLimit: z.number().int().min(0).default(1_000_000),
      })
      .prefault({}),
  })
  .superRefine((d, ctx) => {
    if (!d.url === !d.urlEnv)
      ctx.addIssue({
        code: 'custom',
        message: d.url
          ? 'give url or urlEnv, not both'
          : 'give the connection: url: postgres://user@host/db, or urlEnv: NAME_OF_AN_ENV_VAR',
      });
  });

export type DatabaseSpec = z.output<typeof databaseSpecSchema>;

/** The connection URL, from the spec or the server's environment; throws naming what is missing. */
export function databaseUrl(spec: DatabaseSpec, env: NodeJS.ProcessEnv = process.env): string {
  if (spec.url) return spec.url;
  const value = spec.urlEnv ? env[spec.urlEnv] : undefined;
  if (!value)
    throw new Error(
      `database.urlEnv: the environment variable ${spec.urlEnv} is not set for the Rewind server; export it, or give database.url`,
    );
  return value;
}

/** The migrations folder of `version`, absolute. */
export function migrationsDir(spec: DatabaseSpec, baseDir: string, version: string): string {
  const dir = spec.migrations.replace(/\$\{version\}/g, version);
  return dir.startsWith('/') ? dir : `${baseDir.replace(/\/$/, '')}/${dir.replace(/^\.\//, '')}`;
}

/** A relative SQLite path (with or without `sqlite:`) is relative to rewind.yaml's folder. */
export function resolveSqliteUrl(url: string, baseDir: string): string {
  if (url.startsWith('file:') || url.startsWith('sqlite:///')) return url;
  return resolve(baseDir, url.replace(/^sqlite:(\/\/)?/i, ''));
}
