// Runtime: starts, stops and lists the instances of a revision. Implementations must be
// idempotent: starting an instance that runs returns it; stopping one that is gone succeeds.
// Failures to start are data (an instance in phase Failed with its reason), not exceptions,
// except for calls the runtime cannot understand at all.

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
  /** The port passed as PORT; stable across restarts of the instance. */
  readonly port: number;
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

export interface Runtime {
  start(spec: InstanceSpec): Promise<Instance>;
  /** Stops every instance of the revision: SIGTERM, then SIGKILL after stopTimeoutMs. Resolves when all exited. */
  stopRevision(app: string, revision: number): Promise<void>;
  list(app?: string): Promise<Instance[]>;
  /** The newest `tail` lines, oldest first. */
  logs(app: string, options: { revision?: number; tail?: number }): Promise<LogLine[]>;
}
