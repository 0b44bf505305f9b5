// The environment an instance of a revision runs with: the revision's own (env, config, opened
// secrets; revisionEnv) and what Rewind serves it (OFREP, flagd sync).
import { type RevisionSpec, revisionEnv } from './revision-spec.ts';
import { createSecretBox, type SecretBox } from './secret-box.ts';

export interface InstanceEnvSources {
  /** Opens sealed secrets; without a key, a revision with secrets cannot start (its open throws). */
  readonly secrets?: SecretBox | undefined;
  /** Where the app's instances reach Rewind's OFREP endpoints (REWIND_OFREP_URL), if served. */
  readonly ofrepUrl?: ((app: string) => string) | undefined;
  /** The app's read-only flag token for OFREP (REWIND_OFREP_TOKEN), if served. */
  readonly ofrepToken?: ((app: string) => string) | undefined;
  /** The flagd sync listener, if served: the flagd providers' own FLAGD_* settings. */
  readonly flagdSync?: { readonly host: string; readonly port: number; readonly tls: boolean } | undefined;
}

/** Throws when a secret cannot be opened. */
export function instanceEnv(
  app: string,
  spec: RevisionSpec,
  sources: InstanceEnvSources,
): Record<string, string> {
  const box = sources.secrets ?? createSecretBox(undefined);
  const env = revisionEnv(spec, (sealed) => box.decrypt(sealed));
  if (sources.ofrepUrl) env.REWIND_OFREP_URL ??= sources.ofrepUrl(app);
  // Rewind's, not the revision's: a deploy --env cannot hand an app another app's flag token.
  if (sources.ofrepToken) env.REWIND_OFREP_TOKEN = sources.ofrepToken(app);
  const sync = sources.flagdSync;
  if (sync) {
    env.FLAGD_RESOLVER ??= 'in-process';
    env.FLAGD_HOST ??= sync.host;
    env.FLAGD_PORT ??= String(sync.port);
    env.FLAGD_SOURCE_SELECTOR ??= app;
    if (sync.tls) env.FLAGD_TLS ??= 'true';
  }
  return env;
}

/**
 * What an instance of the revision must never have shown: the values of its opened secrets and of
 * Rewind's token for it. Throws when a secret cannot be opened.
 */
export function instanceSecrets(app: string, spec: RevisionSpec, sources: InstanceEnvSources): string[] {
  const env = instanceEnv(app, spec, sources);
  return [...Object.keys(spec.secrets), 'REWIND_OFREP_TOKEN'].flatMap((k) => (env[k] ? [env[k]] : []));
}
