// The providers an app runs on, chosen by type in rewind.yaml (`runtime:`, `traffic:`,
// `metrics:` and `health.type`). The schema checks the shape only: which types exist is known to the registry
// (src/providers/registry.ts), and loadConfigFile checks the names against it when it is given the
// list, so that this layer imports no provider.
import { z } from 'zod';

const providerType = (fallback: string) =>
  z
    .string()
    .regex(/^[a-z][a-z0-9-]{0,62}$/, 'a provider type is lower-case letters, digits and -, e.g. process')
    .default(fallback);

/** Where the app's instances run (`process`: child processes of the built-in agent). */
export const runtimeSpecSchema = z.strictObject({ type: providerType('process') }).prefault({});

/** What sends its traffic to them (`builtin`: the built-in proxy). */
export const trafficSpecSchema = z.strictObject({ type: providerType('builtin') }).prefault({});

/** Who counts its requests, errors and latencies (`builtin`: the built-in proxy's counters). */
export const metricsSpecSchema = z.strictObject({ type: providerType('builtin') }).prefault({});

/** Who judges its instances' health (`probe`: HTTP probes of health.path); a key of `health:`. */
export const healthSourceType = providerType('probe');

/** The keys of rewind.yaml that name providers, with the registry each is looked up in. */
export const PROVIDER_FIELDS = [
  { field: 'runtime', registry: 'runtime', at: ['runtime', 'type'] },
  { field: 'traffic', registry: 'traffic', at: ['traffic', 'type'] },
  { field: 'metrics', registry: 'metrics', at: ['metrics', 'type'] },
  { field: 'health', registry: 'health', at: ['health', 'type'] },
] as const;

/** The types each provider registry knows (src/providers/registry.ts providerTypes()). */
export interface ProviderTypes {
  readonly runtime: readonly string[];
  readonly traffic: readonly string[];
  readonly metrics: readonly string[];
  readonly health: readonly string[];
}
