// `runtime: kubernetes`: each revision is a ReplicaSet named <app>-<revision>, made from the pod
// template in rewind.yaml (or copied from the Deployment named by workloadRef, as Argo Rollouts
// does), labelled rewind.dev/app and rewind.dev/revision; the instances are its pods, with their
// IP and the container port as address and readiness from the pod's Ready condition. Starting an
// instance raises the ReplicaSet's replicas to cover it; stopping a revision scales it to 0 (the
// ReplicaSet stays, as Argo keeps old ones, so a rollback to it is a scale-up). Reads come from
// informers (list, then watch): a tick's list() makes no request. After a controller restart the
// informers' first list is what exists, so the revisions are adopted as they run.
import type { V1Pod, V1PodSpec, V1ReplicaSet } from '@kubernetes/client-node';
import { AppsV1Api, CoreV1Api } from '@kubernetes/client-node';
import type { Logger } from '../../shared/logger.ts';
import type { RuntimeSpec } from '../../spec/provider-spec.ts';
import type { Instance, InstancePhase, InstanceSpec, LogLine, Runtime } from '../runtime.ts';
import {
  bounded,
  createOrPatch,
  type KubeTarget,
  kubeMessage,
  LABEL_APP,
  LABEL_REVISION,
  mergePatch,
  statusOf,
  type Watched,
  watch,
} from './kube-api.ts';

export const DEFAULT_CONTAINER_PORT = 8080;

type PodTemplate = { metadata?: Record<string, unknown>; spec: Record<string, unknown> };

export function replicaSetName(app: string, revision: number): string {
  return `${app}-${revision}`;
}

/** The ReplicaSet of one revision: the template with the revision's labels, version and environment. */
export function replicaSetFor(options: {
  app: string;
  namespace: string;
  template: PodTemplate;
  spec: InstanceSpec;
  replicas: number;
  port: number;
}): V1ReplicaSet {
  const { app, spec, port } = options;
  const labels = { [LABEL_APP]: app, [LABEL_REVISION]: String(spec.revision) };
  const podSpec = structuredClone(options.template.spec) as unknown as V1PodSpec;
  const meta = structuredClone(options.template.metadata ?? {}) as {
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  const env = {
    ...spec.env,
    PORT: String(port),
    REWIND_APP: app,
    REWIND_REVISION: String(spec.revision),
  };
  podSpec.containers = podSpec.containers.map((c, i) => {
    const image = spec.version ? c.image?.replaceAll('${version}', spec.version) : c.image;
    if (i > 0) return { ...c, ...(image && { image }) };
    const kept = (c.env ?? []).filter((e) => !(e.name in env));
    return {
      ...c,
      ...(image && { image }),
      // The process runtime's command line, when the template gives the container none.
      ...(!c.command && !c.args && spec.command && { command: ['/bin/sh', '-c', spec.command] }),
      env: [...kept, ...Object.entries(env).map(([name, value]) => ({ name, value }))],
      ports: c.ports?.length ? c.ports : [{ containerPort: port, name: 'http' }],
    };
  });
  podSpec.terminationGracePeriodSeconds ??= Math.ceil(spec.stopTimeoutMs / 1000);
  return {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: { name: replicaSetName(app, spec.revision), namespace: options.namespace, labels },
    spec: {
      replicas: options.replicas,
      selector: { matchLabels: labels },
      template: { metadata: { ...meta, labels: { ...(meta.labels ?? {}), ...labels } }, spec: podSpec },
    },
  };
}

/** A pod as an instance: phase, readiness, address, restarts and last exit from its status. */
export function instanceOfPod(app: string, pod: V1Pod, index: number, port: number): Instance {
  const revision = Number(pod.metadata?.labels?.[LABEL_REVISION]);
  const status = pod.status;
  const statuses = status?.containerStatuses ?? [];
  const terminated = statuses
    .map((c) => c.lastState?.terminated ?? c.state?.terminated)
    .filter((t) => t !== undefined)
    .sort((a, b) => Number(b.finishedAt ?? 0) - Number(a.finishedAt ?? 0))[0];
  let phase: InstancePhase;
  let reason: string | null = null;
  if (pod.metadata?.deletionTimestamp) phase = 'Stopping';
  else if (status?.phase === 'Running') phase = 'Running';
  else if (status?.phase === 'Failed' || status?.phase === 'Succeeded') {
    phase = 'Failed';
    reason = status.reason ?? status.message ?? `pod ${status.phase}`;
  } else {
    const waiting = statuses.find((c) => c.state?.waiting?.reason)?.state?.waiting;
    // A container that cannot start (a bad image, a crash loop) is a failed start, with its reason.
    if (
      waiting &&
      /ErrImagePull|ImagePullBackOff|InvalidImageName|CreateContainerConfigError/.test(waiting.reason ?? '')
    ) {
      phase = 'Failed';
      reason = `${waiting.reason}: ${waiting.message ?? ''}`.trim();
    } else phase = waiting?.reason === 'CrashLoopBackOff' ? 'Backoff' : 'Starting';
  }
  const ready = status?.conditions?.find((c) => c.type === 'Ready');
  return {
    id: `${app}/${revision}/${index}`,
    app,
    revision,
    index,
    phase,
    pid: null,
    port,
    address: { host: status?.podIP ?? '', port },
    ready: ready ? ready.status === 'True' : undefined,
    restarts: statuses.reduce((n, c) => n + (c.restartCount ?? 0), 0),
    startedAt: status?.startTime ? new Date(status.startTime).getTime() : null,
    lastExit: terminated
      ? {
          code: terminated.exitCode ?? null,
          signal: terminated.signal ? String(terminated.signal) : null,
          at: terminated.finishedAt ? new Date(terminated.finishedAt).getTime() : 0,
        }
      : null,
    reason,
  };
}

export class KubernetesRuntime implements Runtime {
  readonly #target: KubeTarget;
  readonly #app: string;
  readonly #spec: RuntimeSpec;
  readonly #port: number;
  readonly #log: Logger;
  #template: PodTemplate | undefined;
  #pods!: Watched<V1Pod>;
  #sets!: Watched<V1ReplicaSet>;
  readonly #waiters = new Set<() => void>();

  private constructor(options: { target: KubeTarget; app: string; spec: RuntimeSpec; log: Logger }) {
    this.#target = options.target;
    this.#app = options.app;
    this.#spec = options.spec;
    this.#port = options.spec.port ?? DEFAULT_CONTAINER_PORT;
    this.#log = options.log;
    this.#template = options.spec.podTemplate as PodTemplate | undefined;
  }

  /** The runtime of one app, its informers started and their first lists in. */
  static async create(options: {
    target: KubeTarget;
    app: string;
    spec: RuntimeSpec;
    log: Logger;
  }): Promise<KubernetesRuntime> {
    const runtime = new KubernetesRuntime(options);
    await runtime.#init();
    return runtime;
  }

  async #init(): Promise<void> {
    const { config, namespace } = this.#target;
    const core = config.makeApiClient(CoreV1Api);
    const apps = config.makeApiClient(AppsV1Api);
    const selector = `${LABEL_APP}=${this.#app}`;
    const onError = (err: unknown) =>
      this.#log.warn({ app: this.#app, err: kubeMessage(err) }, 'kubernetes watch failed; restarting it');
    this.#pods = await watch<V1Pod>(
      this.#target,
      `/api/v1/namespaces/${namespace}/pods`,
      () => core.listNamespacedPod({ namespace, labelSelector: selector }),
      selector,
      onError,
    );
    this.#sets = await watch<V1ReplicaSet>(
      this.#target,
      `/apis/apps/v1/namespaces/${namespace}/replicasets`,
      () => apps.listNamespacedReplicaSet({ namespace, labelSelector: selector }),
      selector,
      onError,
    );
    const wake = () => {
      for (const w of this.#waiters) w();
    };
    this.#pods.onChange(wake);
    this.#sets.onChange(wake);
  }

  /** The pod template: rewind.yaml's, or the referenced Deployment's (read once). */
  async #podTemplate(): Promise<PodTemplate> {
    if (this.#template) return this.#template;
    const ref = this.#spec.workloadRef!;
    const apps = this.#target.config.makeApiClient(AppsV1Api);
    const deployment = await bounded(
      `read Deployment ${ref.name}`,
      apps.readNamespacedDeployment({
        name: ref.name,
        namespace: this.#target.namespace,
      }),
    );
    const t = deployment.spec?.template;
    if (!t?.spec) throw new Error(`Deployment ${ref.name} in ${this.#target.namespace} has no pod template`);
    this.#template = {
      metadata: { labels: t.metadata?.labels, annotations: t.metadata?.annotations },
      spec: t.spec as unknown as Record<string, unknown>,
    };
    return this.#template;
  }

  /**
   * A revision's ReplicaSet as a reference for a patch. Not the cached object: items of an
   * informer's first list carry no apiVersion and kind.
   */
  #ref(revision: number) {
    return {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: { name: replicaSetName(this.#app, revision), namespace: this.#target.namespace },
    };
  }

  #set(revision: number): V1ReplicaSet | undefined {
    const name = replicaSetName(this.#app, revision);
    return this.#sets.list().find((s) => s.metadata?.name === name);
  }

  #podsOf(revision?: number): V1Pod[] {
    return this.#pods
      .list()
      .filter((p) => revision === undefined || p.metadata?.labels?.[LABEL_REVISION] === String(revision))
      .sort(
        (a, b) =>
          Number(new Date(a.metadata?.creationTimestamp ?? 0)) -
            Number(new Date(b.metadata?.creationTimestamp ?? 0)) ||
          (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''),
      );
  }

  async start(spec: InstanceSpec): Promise<Instance> {
    const set = this.#set(spec.revision);
    const wanted = spec.index + 1;
    try {
      if (!set) {
        const body = replicaSetFor({
          app: this.#app,
          namespace: this.#target.namespace,
          template: await this.#podTemplate(),
          spec,
          replicas: wanted,
          port: this.#port,
        });
        await createOrPatch(this.#target.objects, body, { spec: { replicas: wanted } });
      } else if ((set.spec?.replicas ?? 0) < wanted) {
        await mergePatch(this.#target.objects, this.#ref(spec.revision), { spec: { replicas: wanted } });
      }
    } catch (err) {
      return this.#placeholder(
        spec,
        'Failed',
        `cannot create or scale ReplicaSet ${replicaSetName(this.#app, spec.revision)}: ${kubeMessage(err)}`,
      );
    }
    const pods = this.#podsOf(spec.revision).filter((p) => !p.metadata?.deletionTimestamp);
    const pod = pods[spec.index];
    if (pod) return instanceOfPod(this.#app, pod, spec.index, this.#port);
    return this.#placeholder(spec, 'Starting', null);
  }

  /** An instance whose pod does not exist (yet): starting, or failed with the reason. */
  #placeholder(spec: InstanceSpec, phase: 'Starting' | 'Failed', reason: string | null): Instance {
    return {
      id: `${this.#app}/${spec.revision}/${spec.index}`,
      app: this.#app,
      revision: spec.revision,
      index: spec.index,
      phase,
      pid: null,
      port: this.#port,
      address: { host: '', port: this.#port },
      restarts: 0,
      startedAt: null,
      lastExit: null,
      reason,
    };
  }

  async stopRevision(_app: string, revision: number): Promise<void> {
    const set = this.#set(revision);
    if (set && (set.spec?.replicas ?? 0) > 0) {
      try {
        await mergePatch(this.#target.objects, this.#ref(revision), { spec: { replicas: 0 } });
      } catch (err) {
        if (statusOf(err) !== 404) throw err;
      }
    }
    // Resolves when its pods are gone (their grace period is the template's), or after a bound.
    const deadline = Date.now() + 120_000;
    while (this.#podsOf(revision).length > 0 && Date.now() < deadline) await this.#changed(1000);
  }

  /** Resolves on the next change the informers see, or after `ms`. */
  #changed(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#waiters.add(done);
    });
  }

  async list(app?: string): Promise<Instance[]> {
    if (app !== undefined && app !== this.#app) return [];
    const byRevision = new Map<number, V1Pod[]>();
    for (const pod of this.#podsOf()) {
      const revision = Number(pod.metadata?.labels?.[LABEL_REVISION]);
      if (!Number.isInteger(revision)) continue;
      const list = byRevision.get(revision) ?? [];
      list.push(pod);
      byRevision.set(revision, list);
    }
    const out: Instance[] = [];
    for (const [, pods] of byRevision) {
      // Pods on their way out keep no index: the live ones are numbered from 0.
      const live = pods.filter((p) => !p.metadata?.deletionTimestamp);
      const going = pods.filter((p) => p.metadata?.deletionTimestamp);
      for (const [i, p] of live.entries()) out.push(instanceOfPod(this.#app, p, i, this.#port));
      for (const [i, p] of going.entries())
        out.push(instanceOfPod(this.#app, p, live.length + i, this.#port));
    }
    return out;
  }

  async logs(_app: string, options: { revision?: number; tail?: number }): Promise<LogLine[]> {
    const core = this.#target.config.makeApiClient(CoreV1Api);
    const tail = options.tail ?? 100;
    const out: LogLine[] = [];
    for (const pod of this.#podsOf(options.revision)) {
      const name = pod.metadata?.name ?? '';
      try {
        const text = await bounded(
          `logs of pod ${name}`,
          core.readNamespacedPodLog({
            name,
            namespace: this.#target.namespace,
            tailLines: tail,
            timestamps: true,
          }),
        );
        for (const line of String(text).split('\n').filter(Boolean)) {
          const space = line.indexOf(' ');
          const at = Date.parse(line.slice(0, space));
          out.push({
            at: Number.isFinite(at) ? at : 0,
            instance: name,
            stream: 'stdout',
            line: line.slice(space + 1),
          });
        }
      } catch {
        // A pod without logs yet (or none to give: no container ran) adds nothing.
      }
    }
    return out.sort((a, b) => a.at - b.at).slice(-tail);
  }

  /** Stops the informers (the server's stop). */
  async close(): Promise<void> {
    await this.#pods?.stop();
    await this.#sets?.stop();
  }
}
