// The Kubernetes API as the providers use it: one KubeConfig per app (rewind.yaml's
// runtime.kubeconfig, else in the cluster the pod's service account, else $KUBECONFIG or
// ~/.kube/config), the generic object API for writes (create, JSON merge patch, delete), and
// informers (list, then watch) for what the reconcile loop reads on every tick without a request.
import { resolve } from 'node:path';
import {
  KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
  makeInformer,
  PatchStrategy,
} from '@kubernetes/client-node';

export const LABEL_APP = 'rewind.dev/app';
export const LABEL_REVISION = 'rewind.dev/revision';
/** Who manages the objects: Rewind's field manager for server-side bookkeeping. */
export const FIELD_MANAGER = 'rewind';
/**
 * The longest one API request may take. The client has no timeout of its own, and these calls
 * run inside an app's reconcile tick: a hung API server must fail the tick, not hold it.
 */
export const REQUEST_TIMEOUT_MS = 10_000;

/** `request`, or an error naming `what` once REQUEST_TIMEOUT_MS has passed without an answer. */
export async function bounded<T>(what: string, request: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new Error(`${what}: the Kubernetes API server did not answer within ${REQUEST_TIMEOUT_MS} ms`),
        ),
      REQUEST_TIMEOUT_MS,
    );
  });
  try {
    return await Promise.race([request, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export interface KubeTarget {
  readonly config: KubeConfig;
  readonly namespace: string;
  readonly objects: KubernetesObjectApi;
}

/** The cluster and namespace an app's objects live in. */
export function kubeTarget(options: {
  kubeconfig?: string | undefined;
  namespace?: string | undefined;
  baseDir: string;
}): KubeTarget {
  const config = new KubeConfig();
  if (options.kubeconfig) config.loadFromFile(resolve(options.baseDir, options.kubeconfig));
  else config.loadFromDefault();
  const namespace =
    options.namespace ?? config.getContextObject(config.getCurrentContext())?.namespace ?? 'default';
  return { config, namespace, objects: KubernetesObjectApi.makeApiClient(config) };
}

/** The HTTP status of a client error, if it has one. */
export function statusOf(err: unknown): number | undefined {
  const e = err as { code?: unknown; statusCode?: unknown; response?: { statusCode?: unknown } };
  for (const v of [e.code, e.statusCode, e.response?.statusCode]) if (typeof v === 'number') return v;
  return undefined;
}

/** A client error in words: the API server's message when it gave one. */
export function kubeMessage(err: unknown): string {
  const body = (err as { body?: unknown }).body;
  if (typeof body === 'string') {
    try {
      const parsed = JSON.parse(body) as { message?: string };
      if (parsed.message) return parsed.message;
    } catch {}
  }
  if (body && typeof body === 'object' && 'message' in body)
    return String((body as { message: unknown }).message);
  return err instanceof Error ? err.message : String(err);
}

/** Creates the object, or merge-patches it when it exists. */
export async function createOrPatch<T extends KubernetesObject>(
  api: KubernetesObjectApi,
  obj: T,
  patch: object,
): Promise<T> {
  try {
    return (await bounded(
      `create ${obj.kind} ${obj.metadata?.name}`,
      api.create(obj, undefined, undefined, FIELD_MANAGER),
    )) as T;
  } catch (err) {
    if (statusOf(err) !== 409) throw err;
    return mergePatch(api, obj, patch);
  }
}

/** One JSON merge patch (RFC 7386): arrays in it replace the object's whole arrays. */
export async function mergePatch<T extends KubernetesObject>(
  api: KubernetesObjectApi,
  ref: KubernetesObject,
  patch: object,
): Promise<T> {
  const body = {
    apiVersion: ref.apiVersion,
    kind: ref.kind,
    metadata: { name: ref.metadata?.name, namespace: ref.metadata?.namespace },
    ...patch,
  };
  return (await bounded(
    `patch ${ref.kind} ${ref.metadata?.name}`,
    api.patch(
      body as KubernetesObject,
      undefined,
      undefined,
      FIELD_MANAGER,
      undefined,
      PatchStrategy.MergePatch,
    ),
  )) as T;
}

export interface Watched<T extends KubernetesObject> {
  list(): readonly T[];
  stop(): Promise<void>;
  /** Called on every change (add, update, delete). */
  onChange(fn: () => void): void;
}

/**
 * An informer on one kind in the namespace, filtered by label: resolves once the first list is in
 * its cache. A broken watch is restarted by the informer; until then the cache keeps the last state.
 */
export async function watch<T extends KubernetesObject>(
  target: KubeTarget,
  path: string,
  list: () => Promise<{ items: T[] }>,
  labelSelector: string,
  onError: (err: unknown) => void,
): Promise<Watched<T>> {
  const informer = makeInformer<T>(target.config, path, list as never, labelSelector);
  const listeners: (() => void)[] = [];
  const changed = () => {
    for (const l of listeners) l();
  };
  informer.on('add', changed);
  informer.on('update', changed);
  informer.on('delete', changed);
  let stopped = false;
  informer.on('error', (err) => {
    if (stopped) return;
    onError(err);
    // Start it again after a pause: the cache keeps what it had meanwhile.
    setTimeout(() => void informer.start().catch(onError), 1000).unref();
  });
  await informer.start();
  return {
    list: () => informer.list(),
    stop: async () => {
      stopped = true;
      await informer.stop();
    },
    onChange: (fn) => listeners.push(fn),
  };
}
