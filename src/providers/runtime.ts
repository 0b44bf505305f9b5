// Runtime: starts, stops and lists the instances of a revision, wherever they run (child processes
// of the built-in agent, pods, VMs). Implementations must be idempotent: starting an instance that
// runs returns it; stopping one that is gone succeeds. Failures to start are data (an instance in
// phase Failed with its reason), not exceptions, except for calls the runtime cannot understand at
// all. Every instance says where it is reached (`address`): nothing else in Rewind assumes a host.
// Registered by type in ./registry.ts; chosen per app with `runtime: { type }` in rewind.yaml.
// Measuring what instances use (CPU, memory, error lines in their logs) is an optional capability,
// `usage`: a runtime that cannot measure leaves it out, and rules on those metrics stay
// Inconclusive.

/** Where an instance (or a listener) is reached. */
export interface Address {
  readonly host: string;
  readonly port: number;
}

export interface InstanceSpec {
  readonly app: string;
  readonly revision: number;
  /** 0-based index of the instance within its revision. */
  readonly index: number;
  /** Shell command line, `${version}` already substituted. Run with /bin/sh -c. */
  readonly command: string;
  readonly cwd: string;
  /** Extra environment; the runtime adds PORT (and REWIND_APP, REWIND_REVISION, REWIND_INSTANCE). */
  readonly env: Readonly<Record<string, string>>;
  /** Grace between SIGTERM and SIGKILL when stopping. */
  readonly stopTimeoutMs: number;
  /** The deploy's --version (a container image's tag, say); the command has it substituted already. */
  readonly version?: string | undefined;
}

export type InstancePhase = 'Starting' | 'Running' | 'Backoff' | 'Stopping' | 'Stopped' | 'Failed';

export interface Instance {
  /** `${app}/${revision}/${index}` */
  readonly id: string;
  readonly app: string;
  readonly revision: number;
  readonly index: number;
  readonly phase: InstancePhase;
  readonly pid: number | null;
  /** The port passed as PORT; stable across restarts of the instance (the port of `address`). */
  readonly port: number;
  /** Where the instance serves: the traffic router sends to it, the health source probes it. */
  readonly address: Address;
  /**
   * Readiness as the runtime itself judges it (a platform's readiness probe); undefined when the
   * runtime has no such notion (the process runtime: Rewind's own probes decide).
   */
  readonly ready?: boolean | undefined;
  readonly restarts: number;
  readonly startedAt: number | null;
  /** Last exit, if it ever exited: code or signal, and when. */
  readonly lastExit: {
    readonly code: number | null;
    readonly signal: string | null;
    readonly at: number;
  } | null;
  /** Why it is Failed (command not found, crashed too often...). */
  readonly reason: string | null;
}

export interface LogLine {
  readonly at: number;
  readonly instance: string;
  readonly stream: 'stdout' | 'stderr' | 'system';
  readonly line: string;
}

/** What one instance used in one second, counting the processes it started. */
export interface InstanceUsage {
  /** `Instance.id`. */
  readonly instance: string;
  /** The unit the instance belongs to (`Instance.revision`). */
  readonly revision: number;
  /** CPU time used in the second, in cores: 1 is one core busy the whole second. Null: not measured. */
  readonly cpuCores: number | null;
  /** Resident memory at the end of the second, bytes. Null: not measured. */
  readonly memoryBytes: number | null;
  /** Lines written in the second (stdout and stderr). Null: the runtime does not see the logs. */
  readonly logLines: number | null;
  /** Of those, the error lines (the app's `logs.errorPattern`, or the built-in patterns). */
  readonly logErrors: number | null;
}

/** One second of an app's instances. */
export interface UsageSample {
  /** Unix time in whole seconds at the start of the second. */
  readonly second: number;
  /** An instance absent from a second was not running (or not measured) in it. */
  readonly instances: readonly InstanceUsage[];
}

/** What the percentages are of. */
export interface UsageCapacity {
  readonly cpuCores: number;
  readonly memoryBytes: number;
  /**
   * `host`: the instances share this (the process runtime: the host's cores and memory, no limit
   * per instance), so a revision's share is the sum of its instances over it. `instance`: each
   * instance may use this much (a container's limits), so a revision's share is its busiest
   * instance's.
   */
  readonly scope: 'host' | 'instance';
}

export type UsageRead =
  | {
      readonly phase: 'Successful';
      readonly capacity: UsageCapacity;
      readonly samples: readonly UsageSample[];
    }
  | { readonly phase: 'Error'; readonly error: string; readonly samples: readonly [] };

export interface UsageQuery {
  /** The first second wanted (inclusive). */
  readonly sinceSecond: number;
  /** The app's `logs.errorPattern`; absent: the built-in patterns (src/spec/logs-spec.ts). */
  readonly errorPattern?: string | undefined;
}

/** A failed usage read, from whatever was thrown. */
export function usageReadError(err: unknown): UsageRead {
  return { phase: 'Error', error: err instanceof Error ? err.message : String(err), samples: [] };
}

/**
 * One app's instances. `revision` here is the unit whose instances serve a revision (a rollback's
 * copy is served by the instances of the revision it copies). Scaling is starting the missing
 * indexes and stopping the revision: the controller decides how many, the runtime only does it.
 */
export interface Runtime {
  /** Starts instance `spec.index` of a revision, or returns it when it runs already. */
  start(spec: InstanceSpec): Promise<Instance>;
  /** Stops every instance of the revision: SIGTERM, then SIGKILL after stopTimeoutMs. Resolves when all exited. */
  stopRevision(app: string, revision: number): Promise<void>;
  /** The instances it knows, with their phase now. Called every tick: keep it to one round trip. */
  list(app?: string): Promise<Instance[]>;
  /** The newest `tail` lines, oldest first (empty when the runtime keeps none). */
  logs(app: string, options: { revision?: number; tail?: number }): Promise<LogLine[]>;
  /**
   * Optional. Per second and per instance: CPU, resident memory and error lines, the complete
   * seconds from `sinceSecond` on, oldest first, each at most once; reading a second again gives
   * the same numbers. Measuring costs only while someone reads: the first read starts it (earlier
   * seconds may then have log counts but no CPU), and it stops some seconds after the last. A
   * bounded history is kept (the process runtime: 15 minutes). Never rejects: a failure is a read
   * in phase Error.
   */
  usage?(app: string, query: UsageQuery): Promise<UsageRead>;
}
