// What a revision freezes: everything that is deployed together. Built from the app's spec, the
// version and the deploy's env overrides; a rollback copies it unchanged.
import { z } from 'zod';
import type { AppSpec } from '../../spec/app-spec.ts';

export const revisionSpecSchema = z.object({
  version: z.string(),
  /** Shell command with ${version} already substituted. */
  command: z.string(),
  cwd: z.string(),
  env: z.record(z.string(), z.string()),
  instances: z.number().int(),
  stopTimeoutMs: z.number(),
  /**
   * The revision whose processes this one runs. A fresh revision runs its own (unit = its number);
   * a copy made by a rollback runs its source's, so that a warm previous revision is switched back
   * to instantly instead of being started again.
   */
  unit: z.number().int().nullable(),
  /** Config set with `rewind config set`: plain environment variables, carried to later revisions. */
  config: z.record(z.string(), z.string()).default({}),
  /** Secrets set with `rewind secrets set`: sealed by the SecretBox, opened only to start instances. */
  secrets: z.record(z.string(), z.string()).default({}),
  /** The flag-set version in force when this revision was made; a rollback to it restores it. */
  flagSetVersion: z.number().int().nullable().default(null),
  /** The migration level this revision needs (highest migration id of its folder), or null without a database. */
  migrationLevel: z.number().int().nullable().default(null),
  /** Who made the revision: the name of the API token (null: Rewind itself, or made before tokens). */
  author: z.string().nullable().default(null),
});

export type RevisionSpec = z.output<typeof revisionSpecSchema>;

export interface NewRevisionInput {
  readonly version: string;
  readonly env?: Readonly<Record<string, string>>;
  /** Config, secrets and flag set carried over from the revision this one follows. */
  readonly carry?: Pick<RevisionSpec, 'config' | 'secrets' | 'flagSetVersion'>;
  readonly migrationLevel?: number | null;
  readonly author?: string | null;
}

const placeholder = /\$\{version\}/g;

export function buildRevisionSpec(app: AppSpec, baseDir: string, input: NewRevisionInput): RevisionSpec {
  const sub = (s: string) => s.replace(placeholder, input.version);
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...app.run.env, ...input.env })) env[k] = sub(v);
  const cwd = sub(app.run.cwd);
  return {
    version: input.version,
    command: sub(app.run.command),
    cwd: cwd.startsWith('/') ? cwd : `${baseDir.replace(/\/$/, '')}/${cwd}`.replace(/\/\.$/, ''),
    env,
    instances: app.run.instances,
    stopTimeoutMs: app.run.stopTimeout,
    unit: null,
    config: { ...input.carry?.config },
    secrets: { ...input.carry?.secrets },
    flagSetVersion: input.carry?.flagSetVersion ?? null,
    migrationLevel: input.migrationLevel ?? null,
    author: input.author ?? null,
  };
}

/**
 * The environment an instance of the revision runs with: rewind.yaml's env, then config, then
 * secrets (opened with `open`), each overriding the one before.
 */
export function revisionEnv(spec: RevisionSpec, open: (sealed: string) => string): Record<string, string> {
  const env: Record<string, string> = { ...spec.env, ...spec.config };
  for (const [k, sealed] of Object.entries(spec.secrets)) env[k] = open(sealed);
  return env;
}

/** The spec as the API shows it: secrets by name only, never their sealed or plain values. */
export function publicRevisionSpec(spec: unknown): unknown {
  if (typeof spec !== 'object' || spec === null || !('secrets' in spec)) return spec;
  const secrets = (spec as { secrets: Record<string, string> }).secrets;
  return { ...spec, secrets: Object.fromEntries(Object.keys(secrets).map((k) => [k, '(secret)'])) };
}

export interface RevisionDiffEntry {
  readonly kind:
    | 'version'
    | 'command'
    | 'env'
    | 'config'
    | 'secret'
    | 'flagSet'
    | 'migrationLevel'
    | 'instances';
  readonly key: string;
  readonly change: 'added' | 'removed' | 'changed';
  /** Absent for secrets: their values are never shown. */
  readonly from?: string | number | null;
  readonly to?: string | number | null;
}

/** What differs from revision spec `a` to `b`; secrets say only that they changed. */
export function diffRevisionSpecs(a: RevisionSpec, b: RevisionSpec): RevisionDiffEntry[] {
  const out: RevisionDiffEntry[] = [];
  const scalar = (
    kind: RevisionDiffEntry['kind'],
    from: string | number | null,
    to: string | number | null,
  ) => {
    if (from !== to) out.push({ kind, key: kind, change: 'changed', from, to });
  };
  scalar('version', a.version, b.version);
  scalar('command', a.command, b.command);
  scalar('instances', a.instances, b.instances);
  const maps = (
    kind: RevisionDiffEntry['kind'],
    x: Record<string, string>,
    y: Record<string, string>,
    hide: boolean,
  ) => {
    for (const key of [...new Set([...Object.keys(x), ...Object.keys(y)])].sort()) {
      const from = x[key];
      const to = y[key];
      if (from === to) continue;
      const change = from === undefined ? 'added' : to === undefined ? 'removed' : 'changed';
      out.push(hide ? { kind, key, change } : { kind, key, change, from: from ?? null, to: to ?? null });
    }
  };
  maps('env', a.env, b.env, false);
  maps('config', a.config, b.config, false);
  maps('secret', a.secrets, b.secrets, true);
  scalar('flagSet', a.flagSetVersion, b.flagSetVersion);
  scalar('migrationLevel', a.migrationLevel, b.migrationLevel);
  return out;
}

/** The spec of a rollback's copy of `source` (revision number `sourceNumber`). */
export function copyRevisionSpec(source: RevisionSpec, sourceNumber: number): RevisionSpec {
  return { ...source, unit: source.unit ?? sourceNumber };
}

export function unitOf(revision: { readonly number: number; readonly spec: unknown }): number {
  return (revision.spec as RevisionSpec).unit ?? revision.number;
}

export function parseRevisionSpec(spec: unknown): RevisionSpec {
  return revisionSpecSchema.parse(spec);
}
