// The providers an app runs on, chosen by type in rewind.yaml (`runtime:`, `traffic:`,
// `metrics:` and `health.type`). The schema checks the shape only: which types exist is known to the registry
// (src/providers/registry.ts), and loadConfigFile checks the names against it when it is given the
// list, so that this layer imports no provider.
import { z } from 'zod';
import { durationSchema } from '../shared/duration-schema.ts';

const providerType = (fallback: string) =>
  z
    .string()
    .regex(
      /^[a-z][a-zA-Z0-9-]{0,62}$/,
      'a provider type is letters, digits and -, starting lower-case, e.g. process or gatewayApi',
    )
    .default(fallback);

const k8sName = (what: string, example: string) =>
  z
    .string()
    .regex(
      /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/,
      `a Kubernetes ${what}: lower-case letters, digits and -, at most 63, e.g. ${example}`,
    );

/** Settings only `runtime.type: kubernetes` reads. */
const KUBERNETES_RUNTIME_KEYS = ['namespace', 'kubeconfig', 'podTemplate', 'workloadRef', 'port'] as const;

/**
 * Where the app's instances run: `process` (child processes of the built-in agent) or
 * `kubernetes` (one ReplicaSet per revision, from `podTemplate` or from the Deployment named by
 * `workloadRef`; the pods are the instances).
 */
export const runtimeSpecSchema = z
  .strictObject({
    type: providerType('process'),
    /** The namespace of the app's ReplicaSets, Services and HTTPRoute (default: the kubeconfig's, else default). */
    namespace: k8sName('namespace', 'shop').optional(),
    /** A kubeconfig file, relative to rewind.yaml; default: in the cluster, the pod's service account, else $KUBECONFIG or ~/.kube/config. */
    kubeconfig: z.string().trim().min(1).optional(),
    /**
     * A pod template (metadata and spec, as in a Deployment's spec.template); `${version}` in its
     * images is the deploy's --version. Its first container gets the revision's environment.
     */
    podTemplate: z
      .strictObject({
        metadata: z.record(z.string(), z.unknown()).optional(),
        spec: z
          .record(z.string(), z.unknown())
          .refine((spec) => Array.isArray(spec.containers) && spec.containers.length > 0, {
            message:
              'a pod spec with at least one container, e.g. containers: [{ name: app, image: "shop:${version}" }]',
          }),
      })
      .optional(),
    /** An existing Deployment whose pod template the revisions copy (as Argo Rollouts' workloadRef); Rewind scales it to 0. */
    workloadRef: z
      .strictObject({
        kind: z
          .literal('Deployment', { error: 'only a Deployment can be referenced; write kind: Deployment' })
          .default('Deployment'),
        name: k8sName('Deployment name', 'shop'),
      })
      .optional(),
    /** The container port the revisions' Services send to (default 8080; PORT in the container's env). */
    port: z.number().int().min(1).max(65535).optional(),
  })
  .superRefine((r, ctx) => {
    if (r.type === 'kubernetes') {
      if (!r.podTemplate === !r.workloadRef)
        ctx.addIssue({
          code: 'custom',
          path: r.podTemplate ? ['workloadRef'] : ['podTemplate'],
          message: r.podTemplate
            ? 'runtime kubernetes takes podTemplate or workloadRef, not both; remove one'
            : 'runtime kubernetes needs the pods to run: a podTemplate (metadata, spec), or workloadRef: { name: DEPLOYMENT }',
        });
      return;
    }
    for (const key of KUBERNETES_RUNTIME_KEYS)
      if (r[key] !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: [key],
          message: `${key} is a setting of runtime.type kubernetes, not of "${r.type}"; remove it or write type: kubernetes`,
        });
  })
  .prefault({});

export type RuntimeSpec = z.output<typeof runtimeSpecSchema>;

/** Settings only the Kubernetes traffic routers read. */
const KUBERNETES_TRAFFIC_KEYS = ['gateway', 'route'] as const;

/**
 * What sends its traffic to the instances: `builtin` (the built-in proxy), `gatewayApi` (an
 * HTTPRoute whose backendRefs are one Service per revision, weighted) or `service` (one Service
 * whose selector names the serving revision: blue-green without a gateway).
 */
export const trafficSpecSchema = z
  .strictObject({
    type: providerType('builtin'),
    /** The Gateway the HTTPRoute attaches to (gatewayApi). */
    gateway: z
      .strictObject({
        name: k8sName('Gateway name', 'public'),
        namespace: k8sName('namespace', 'gateways').optional(),
        sectionName: z.string().min(1).optional(),
      })
      .optional(),
    /** The HTTPRoute's name and hostnames (gatewayApi); default name: the app's. */
    route: z
      .strictObject({
        name: k8sName('HTTPRoute name', 'shop').optional(),
        hostnames: z.array(z.string().min(1)).optional(),
      })
      .optional(),
  })
  .superRefine((t, ctx) => {
    if (t.type === 'gatewayApi') {
      if (!t.gateway)
        ctx.addIssue({
          code: 'custom',
          path: ['gateway'],
          message:
            'traffic gatewayApi needs the Gateway its HTTPRoute attaches to; write gateway: { name: GATEWAY }',
        });
      return;
    }
    for (const key of KUBERNETES_TRAFFIC_KEYS)
      if (t[key] !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: [key],
          message: `${key} is a setting of traffic.type gatewayApi, not of "${t.type}"; remove it or write type: gatewayApi`,
        });
  })
  .prefault({});

export type TrafficSpec = z.output<typeof trafficSpecSchema>;

/**
 * The PromQL a `metrics: prometheus` source asks, one query per counter. Each returns cumulative
 * counters (no rate()), one series per target with the revision as a label, so the source takes
 * per-second differences series by series (a removed or restarted instance is no drop); `{{app}}`
 * is replaced by the app's name. Defaults follow the common HTTP instrumentation (prom-client, the
 * Go and Python clients): a request counter with a `code` label and a latency histogram in seconds.
 */
export const DEFAULT_PROMETHEUS_QUERIES = {
  requests: 'http_requests_total{app="{{app}}"}',
  errors: 'http_requests_total{app="{{app}}", code=~"5.."}',
  latency: 'http_request_duration_seconds_bucket{app="{{app}}"}',
} as const;

/** The placeholders a query may hold. */
export const PROMETHEUS_PLACEHOLDERS = ['app'] as const;

const promql = (name: keyof typeof DEFAULT_PROMETHEUS_QUERIES) =>
  z
    .string()
    .trim()
    .min(1, `an empty query; write PromQL such as ${DEFAULT_PROMETHEUS_QUERIES[name]}`)
    .max(4096, 'a query of at most 4096 characters')
    .superRefine((query, ctx) => {
      for (const m of query.matchAll(/\{\{\s*([^}]*?)\s*\}\}/g))
        if (!(PROMETHEUS_PLACEHOLDERS as readonly string[]).includes(m[1]!))
          ctx.addIssue({
            code: 'custom',
            message: `{{${m[1]}}} is not a placeholder; a query may hold ${PROMETHEUS_PLACEHOLDERS.map((p) => `{{${p}}}`).join(', ')} (revisions come from the revisionLabel of each series)`,
          });
    })
    .default(DEFAULT_PROMETHEUS_QUERIES[name]);

/** The settings only `metrics.type: prometheus` reads. */
const PROMETHEUS_KEYS = [
  'url',
  'scrapeInterval',
  'timeout',
  'queries',
  'revisionLabel',
  'targetsFile',
] as const;

/**
 * Who counts its requests, errors and latencies: `builtin` (the built-in proxy's counters) or
 * `prometheus` (PromQL against a Prometheus server, with the settings below).
 */
export const metricsSpecSchema = z
  .strictObject({
    type: providerType('builtin'),
    /** The Prometheus server, e.g. http://127.0.0.1:9090 (its HTTP API is under /api/v1). */
    url: z
      .url({ protocol: /^https?$/, error: 'not an http(s) URL; write for example http://127.0.0.1:9090' })
      .optional(),
    /**
     * How often Prometheus scrapes the app's targets: a second is read once the scrape after it
     * has had time to land (one interval and a second later), so a re-read never changes it.
     */
    scrapeInterval: durationSchema('"1s" or "15s"', {
      max: 300_000,
      maxReason: 'a 5m scrape interval',
    }).optional(),
    /** How long one query may take before the read is an error (no data, not "no traffic"). */
    timeout: durationSchema('"2s"', { max: 60_000, maxReason: '1m' }).optional(),
    queries: z
      .strictObject({ requests: promql('requests'), errors: promql('errors'), latency: promql('latency') })
      .optional(),
    /** The label that carries Rewind's revision number on each series. */
    revisionLabel: z
      .string()
      .regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/, 'a Prometheus label name: letters, digits and _, e.g. revision')
      .optional(),
    /**
     * Where to write the app's running instances for Prometheus' file-based discovery (file_sd),
     * labelled app, revision and instance; relative to rewind.yaml. For runtimes that Prometheus
     * cannot discover by itself (process).
     */
    targetsFile: z.string().trim().min(1, 'an empty path; write for example prometheus/shop.json').optional(),
  })
  .superRefine((m, ctx) => {
    if (m.type === 'prometheus') {
      if (m.url === undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['url'],
          message:
            "metrics.type prometheus needs the server's URL; write for example url: http://127.0.0.1:9090",
        });
      return;
    }
    for (const key of PROMETHEUS_KEYS)
      if (m[key] !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: [key],
          message: `${key} is a setting of metrics.type prometheus, not of "${m.type}"; remove it or write type: prometheus`,
        });
  })
  .transform((m) =>
    m.type !== 'prometheus'
      ? { type: m.type }
      : {
          type: m.type,
          url: m.url!,
          scrapeInterval: m.scrapeInterval ?? 1000,
          timeout: m.timeout ?? 2000,
          queries: m.queries ?? { ...DEFAULT_PROMETHEUS_QUERIES },
          revisionLabel: m.revisionLabel ?? 'revision',
          ...(m.targetsFile !== undefined && { targetsFile: m.targetsFile }),
        },
  )
  .prefault({});

export type MetricsSpec = z.output<typeof metricsSpecSchema>;

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
