// Creating a revision from a request: a deploy (a version and env overrides, with the config,
// secrets and flag set carried from the stable revision and the migration level the version needs)
// or a config change (the stable revision with config or secrets set or unset). Input is checked
// before anything is written, so a bad request leaves nothing behind. Knows nothing of rollouts:
// the caller decides when a revision may be made, and rolls it out.
import { RewindError } from '../../shared/errors.ts';
import type { AppSpec } from '../../spec/app-spec.ts';
import type { RevisionRecord, Store } from '../../store/types.ts';
import { buildRevisionSpec, parseRevisionSpec, type RevisionSpec } from './revision-spec.ts';
import type { SecretBox } from './secret-box.ts';

const VERSION_RE = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/;
const ENV_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Throws unless `version` is a version label: it is substituted into the run command and into
 * migration paths, so nothing that could escape them (no /, no .. at the start).
 */
export function checkVersion(version: string): void {
  if (!VERSION_RE.test(version)) {
    throw new RewindError(
      'VALIDATION_FAILED',
      `version "${version}" is not valid; use letters, digits, and . _ + - (it is substituted into the run command)`,
      { field: 'version' },
    );
  }
}

/** Throws unless every key of a deploy's `--env` is a variable name. */
export function checkEnvKeys(env: Readonly<Record<string, string>> | undefined): void {
  for (const key of Object.keys(env ?? {})) {
    if (!ENV_RE.test(key)) {
      throw new RewindError(
        'VALIDATION_FAILED',
        `env key "${key}" is not a valid variable name; use letters, digits and _`,
        {
          field: 'env',
        },
      );
    }
  }
}

export interface DeployRevisionInput {
  readonly version: string;
  readonly env?: Record<string, string> | undefined;
  readonly reason?: string | undefined;
  readonly actor?: string | undefined;
}

/** What a new revision records besides the request, asked for only once the request is checked. */
export interface RevisionSources {
  /** The migration level the version needs (null without a database); throws a RewindError. */
  migrationLevel(): Promise<number | null>;
  /** The app's flag-set version in force, or null when it has none. */
  flagSetVersion(): Promise<number | null>;
}

/** Creates the revision a deploy rolls out; `from` is the stable revision it follows (null: none). */
export async function createDeployRevision(
  store: Store,
  app: { readonly spec: AppSpec; readonly baseDir: string },
  input: DeployRevisionInput,
  sources: RevisionSources,
): Promise<{ revision: RevisionRecord; from: number | null }> {
  const name = app.spec.name;
  const appRecord = await store.apps.get(name);
  const stableRev =
    appRecord?.stableRevision != null ? await store.revisions.get(name, appRecord.stableRevision) : undefined;
  const carried = stableRev ? parseRevisionSpec(stableRev.spec) : undefined;
  const migrationLevel = await sources.migrationLevel();
  const spec = buildRevisionSpec(app.spec, app.baseDir, {
    version: input.version,
    env: input.env,
    carry: {
      config: carried?.config ?? {},
      secrets: carried?.secrets ?? {},
      flagSetVersion: (await sources.flagSetVersion()) ?? carried?.flagSetVersion ?? null,
    },
    migrationLevel,
    author: input.actor ?? null,
  });
  const revision = await store.revisions.create({
    app: name,
    version: input.version,
    spec,
    reason: input.reason ?? null,
  });
  return { revision, from: appRecord?.stableRevision ?? null };
}

/** One key of `rewind config set` or `rewind secrets set`; a null value unsets it. */
export type ConfigChange = readonly ['config' | 'secrets', string, string | null];

/** The changes a config request asks for, checked: at least one, each key a variable name. */
export function configChanges(input: {
  readonly config?: Record<string, string | null> | undefined;
  readonly secrets?: Record<string, string | null> | undefined;
}): ConfigChange[] {
  const changes = [
    ...Object.entries(input.config ?? {}).map(([k, v]) => ['config', k, v] as const),
    ...Object.entries(input.secrets ?? {}).map(([k, v]) => ['secrets', k, v] as const),
  ];
  if (changes.length === 0)
    throw new RewindError('VALIDATION_FAILED', 'nothing to change; pass KEY=VALUE pairs or --unset KEY', {
      field: 'config',
    });
  for (const [field, key] of changes) {
    if (!ENV_RE.test(key))
      throw new RewindError(
        'VALIDATION_FAILED',
        `${field} key "${key}" is not a valid environment variable name; use letters, digits and _, not starting with a digit`,
        { field, key },
      );
  }
  return changes;
}

/** The changes in words ("set config A, unset secret B"): the revision's default reason. */
export function describeConfigChanges(changes: readonly ConfigChange[]): string {
  return changes
    .map(
      ([field, key, value]) =>
        `${value === null ? 'unset' : 'set'} ${field === 'secrets' ? 'secret' : 'config'} ${key}`,
    )
    .join(', ');
}

/**
 * Creates a revision like the stable one but for the changed config or secrets (sealed with `box`);
 * `from` is the stable revision. Throws when the app has no revision yet or a key to unset is not set.
 */
export async function createConfigRevision(
  store: Store,
  app: string,
  changes: readonly ConfigChange[],
  input: { readonly reason?: string | undefined; readonly actor?: string | undefined },
  box: SecretBox,
  flagSetVersion: () => Promise<number | null>,
): Promise<{ revision: RevisionRecord; from: number }> {
  const stable = (await store.apps.get(app))?.stableRevision ?? null;
  const stableRev = stable !== null ? await store.revisions.get(app, stable) : undefined;
  if (!stableRev)
    throw new RewindError('NO_EARLIER_REVISION', `app ${app} has no revision yet; deploy one first`, {
      app,
    });
  const base = parseRevisionSpec(stableRev.spec);
  const config = { ...base.config };
  const secrets = { ...base.secrets };
  for (const [field, key, value] of changes) {
    const target = field === 'config' ? config : secrets;
    if (value === null) {
      if (!(key in target))
        throw new RewindError(
          'VALIDATION_FAILED',
          `${field} key "${key}" is not set on app ${app}; nothing to unset`,
          {
            field,
            key,
          },
        );
      delete target[key];
    } else target[key] = field === 'secrets' ? box.encrypt(value) : value;
  }
  const revision = await store.revisions.create({
    app,
    version: stableRev.version,
    spec: {
      ...base,
      unit: null,
      config,
      secrets,
      flagSetVersion: (await flagSetVersion()) ?? base.flagSetVersion,
      author: input.actor ?? null,
    } satisfies RevisionSpec,
    reason: input.reason ?? describeConfigChanges(changes),
  });
  return { revision, from: stable! };
}
