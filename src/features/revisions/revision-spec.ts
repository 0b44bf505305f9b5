// What a revision freezes: everything that is deployed together. Built from the app's spec, the
// version and the deploy's env overrides; a rollback copies it unchanged.
import { z } from 'zod';
import type { AppSpec } from '../apps/app-spec.ts';

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
});

export type RevisionSpec = z.output<typeof revisionSpecSchema>;

export interface NewRevisionInput {
  readonly version: string;
  readonly env?: Readonly<Record<string, string>>;
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
  };
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
