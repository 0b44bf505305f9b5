// The store's contract: the persisted state of apps, revisions, rollouts and their events.
// Implemented once with Kysely for SQLite (embedded default) and PostgreSQL; the same contract
// suite runs against both. Every write is durable when its promise resolves: the controller
// journals a transition before it acts on it.

import type { EventType } from '../spec/events.ts';
import type { MaintenanceState } from '../spec/maintenance.ts';
import type { RolloutState } from '../spec/rollout-state.ts';
import type { Severity } from '../spec/severity.ts';

export type RolloutPhase =
  | 'Pending'
  | 'Progressing'
  | 'Paused'
  | 'Promoting'
  | 'Baking'
  | 'Completed'
  | 'RollingBack'
  | 'RolledBack'
  | 'Failed';

export const TERMINAL_PHASES: readonly RolloutPhase[] = ['Completed', 'RolledBack', 'Failed'];

export type RolloutKind = 'deploy' | 'rollback';

export interface AppRecord {
  readonly name: string;
  /** The app's spec from rewind.yaml, as JSON. */
  readonly spec: unknown;
  /** The revision that serves when nothing is rolling out; null before the first one. */
  readonly stableRevision: number | null;
  /** Maintenance mode while it is on; null when off. */
  readonly maintenance: MaintenanceState | null;
  readonly createdAt: number;
  readonly updatedAt: number;
}

export interface RevisionRecord {
  readonly app: string;
  /** 1, 2, 3... per app, assigned by the store. */
  readonly number: number;
  readonly version: string;
  /** Everything deployed together (run command, env, ...), frozen at creation. */
  readonly spec: unknown;
  /** The revision this one copies (a rollback to N creates a copy of N). */
  readonly copiedFrom: number | null;
  readonly reason: string | null;
  readonly createdAt: number;
}

export interface NewRevision {
  readonly app: string;
  readonly version: string;
  readonly spec: unknown;
  readonly copiedFrom?: number | null;
  readonly reason?: string | null;
}

export interface RolloutRecord {
  readonly id: string;
  readonly app: string;
  readonly kind: RolloutKind;
  readonly strategy: string;
  readonly fromRevision: number | null;
  readonly toRevision: number;
  readonly phase: RolloutPhase;
  /** The step machine's journal (spec/rollout-state.ts), checked on every read. */
  readonly state: RolloutState;
  readonly reason: string | null;
  readonly error: string | null;
  /** Optimistic-concurrency counter, bumped by every update. */
  readonly generation: number;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly finishedAt: number | null;
}

export interface NewRollout {
  readonly id: string;
  readonly app: string;
  readonly kind: RolloutKind;
  readonly strategy: string;
  readonly fromRevision: number | null;
  readonly toRevision: number;
  readonly phase: RolloutPhase;
  readonly state: RolloutState;
  readonly reason?: string | null;
}

export interface RolloutPatch {
  readonly phase?: RolloutPhase;
  readonly state?: RolloutState;
  readonly error?: string | null;
  readonly finishedAt?: number | null;
}

export interface EventRecord {
  /** Increasing across the store; lets readers follow with `afterId`. */
  readonly id: number;
  readonly app: string;
  readonly rolloutId: string | null;
  readonly at: number;
  readonly type: string;
  readonly message: string;
  readonly data: unknown;
}

export interface NewEvent {
  readonly app: string;
  readonly rolloutId?: string | null;
  readonly at?: number;
  readonly type: EventType;
  readonly message: string;
  readonly data?: unknown;
}

/**
 * Open while the rollback runs; Verifying while the restored revision is watched after it;
 * Resolved when the watch passed; Escalated (P0) when the rollback did not bring the app back.
 */
export type IncidentStatus = 'Open' | 'Verifying' | 'Resolved' | 'Escalated';

export interface IncidentRecord {
  readonly id: string;
  readonly app: string;
  readonly rolloutId: string | null;
  readonly severity: Severity;
  readonly status: IncidentStatus;
  readonly title: string;
  /** The whole incident document (features/incidents/incident.ts), as JSON. */
  readonly data: unknown;
  readonly createdAt: number;
  readonly updatedAt: number;
  /** Set when the status first becomes Resolved (or explicitly); null while unresolved. */
  readonly resolvedAt: number | null;
}

export interface NewIncident {
  /** Assigned by the caller (the incidents feature), like rollout ids; unique across the store. */
  readonly id: string;
  readonly app: string;
  readonly rolloutId?: string | null;
  readonly severity: Severity;
  readonly status?: IncidentStatus;
  readonly title: string;
  readonly data: unknown;
}

export interface IncidentPatch {
  readonly severity?: Severity;
  readonly status?: IncidentStatus;
  readonly title?: string;
  readonly data?: unknown;
  readonly resolvedAt?: number | null;
}

export type DrillStatus = 'Running' | 'Passed' | 'Failed';

export interface DrillRecord {
  readonly id: string;
  readonly app: string;
  /** The version the drill deployed and rolled back. */
  readonly version: string;
  readonly status: DrillStatus;
  /** The drill report (features/drills/drill-report.ts), as JSON. */
  readonly report: unknown;
  readonly createdAt: number;
  readonly updatedAt: number;
  /** Set when the status leaves Running. */
  readonly finishedAt: number | null;
}

export interface NewDrill {
  /** Assigned by the caller (the drills feature); unique across the store. */
  readonly id: string;
  readonly app: string;
  readonly version: string;
  readonly report: unknown;
}

export interface DrillPatch {
  readonly status?: DrillStatus;
  readonly report?: unknown;
}

export interface FlagSetRecord {
  readonly app: string;
  /** 1, 2, 3... per app, assigned by the store. */
  readonly version: number;
  /** The flag set in flagd's format (features/flags/flag-set.ts). */
  readonly document: unknown;
  readonly author: string;
  readonly reason: string | null;
  /** What changed from the previous version (features/flags/flag-set.ts diffFlagSets). */
  readonly diff: unknown;
  /** The version this one copies (a flag rollback to N creates a copy of N). */
  readonly copiedFrom: number | null;
  readonly createdAt: number;
  /**
   * What flagd loads but objects to in this version (features/flags/flag-set.ts FlagSetWarning), as
   * its author was told when it was made; [] for versions made before warnings were recorded.
   */
  readonly warnings: readonly unknown[];
}

export interface NewFlagSet {
  readonly app: string;
  readonly document: unknown;
  readonly author: string;
  readonly reason?: string | null;
  readonly diff: unknown;
  readonly copiedFrom?: number | null;
  readonly warnings?: readonly unknown[];
}

/** What a store tells about writes of other controllers that share its database. */
export interface ChangeListener {
  /** A flag-set version was created (by any controller, this one included). */
  change(app: string, version: number): void;
  /**
   * Changes may have been missed (the store started listening, or its connection came back):
   * reload everything held.
   */
  resync(): void;
  /**
   * The connection that listens was lost (or could not be opened); it is retried with backoff, and
   * resync() follows once it is back. Called once per outage.
   */
  lost?(reason: string): void;
}

export interface TokenRecord {
  readonly id: string;
  readonly name: string;
  /** viewer | deployer | admin (features/auth/roles.ts). */
  readonly role: string;
  /** The one app the token may act on; null: every app. */
  readonly app: string | null;
  /** sha256 of the token, hex. The token itself is never stored. */
  readonly hash: string;
  readonly createdAt: number;
  readonly expiresAt: number | null;
  readonly revokedAt: number | null;
}

export interface NewToken {
  readonly id: string;
  readonly name: string;
  readonly role: string;
  readonly app?: string | null;
  readonly hash: string;
  readonly expiresAt?: number | null;
}

/** Thrown by tokens.create when an unrevoked token already has the name. */
export class TokenNameTakenError extends Error {
  readonly tokenName: string;
  constructor(name: string) {
    super(`a token named ${name} exists; revoke it first or pick another name`);
    this.name = 'TokenNameTakenError';
    this.tokenName = name;
  }
}

export interface AuditRecord {
  /** Increasing across the store. */
  readonly id: number;
  readonly at: number;
  /** The token's name; null when no valid token came with the request. */
  readonly actor: string | null;
  readonly role: string | null;
  readonly remote: string;
  readonly method: string;
  /** The route pattern, e.g. /api/v1/apps/:app/deploy (the path when no route matched). */
  readonly route: string;
  readonly app: string | null;
  readonly revision: number | null;
  /** allowed (2xx/3xx), refused (401/403/415/421 and other refusals by policy), failed (other errors). */
  readonly outcome: string;
  readonly status: number;
  readonly reason: string | null;
  /** The hash of the entry before (64 zeros for the first). */
  readonly prevHash: string;
  /** sha256 of prevHash and this entry's content (features/auth/audit-chain.ts). */
  readonly hash: string;
}

/** One second of one revision in a rollout's analysis series. */
export interface AnalysisSecond {
  readonly revision: number;
  /** Unix second. */
  readonly second: number;
  /** Owned by the analysis feature; stored as JSON. */
  readonly data: unknown;
}

/** The prevHash of the first audit entry. */
export const AUDIT_GENESIS = '0'.repeat(64);

export type NewAuditEntry = Omit<AuditRecord, 'id' | 'prevHash' | 'hash'>;

/**
 * Thrown by a write that names a record the store does not have (an app, a rollout, an incident, a
 * drill), so that callers can tell "not found" from a failure of the store itself.
 */
export class StoreNotFoundError extends Error {
  readonly kind: 'app' | 'rollout' | 'incident' | 'drill';
  readonly key: string;
  constructor(kind: StoreNotFoundError['kind'], key: string, message: string, cause?: unknown) {
    super(message, { cause });
    this.name = 'StoreNotFoundError';
    this.kind = kind;
    this.key = key;
  }
}

/** Thrown by rollouts.create when the app already has a rollout that is not finished. */
export class RolloutConflictError extends Error {
  readonly app: string;
  readonly activeRolloutId: string;
  constructor(app: string, activeRolloutId: string) {
    super(`app ${app} already has a rollout in progress (${activeRolloutId})`);
    this.name = 'RolloutConflictError';
    this.app = app;
    this.activeRolloutId = activeRolloutId;
  }
}

/** Thrown by rollouts.update when `expectedGeneration` does not match (someone else wrote first). */
export class StaleWriteError extends Error {
  constructor(id: string, expected: number) {
    super(`rollout ${id} changed since generation ${expected}`);
    this.name = 'StaleWriteError';
  }
}

export interface Store {
  readonly dialect: 'sqlite' | 'postgres';
  readonly apps: {
    /** Insert or update the spec; keeps stableRevision. */
    upsert(name: string, spec: unknown): Promise<AppRecord>;
    get(name: string): Promise<AppRecord | undefined>;
    list(): Promise<AppRecord[]>;
    setStableRevision(name: string, revision: number | null): Promise<void>;
    /** Turns maintenance mode on (replacing the state in force) or off (null); throws if the app is unknown. */
    setMaintenance(name: string, maintenance: MaintenanceState | null): Promise<void>;
  };
  readonly revisions: {
    /** Assigns the next number atomically, even with concurrent callers. */
    create(input: NewRevision): Promise<RevisionRecord>;
    get(app: string, number: number): Promise<RevisionRecord | undefined>;
    /** Newest first. */
    list(app: string, limit?: number): Promise<RevisionRecord[]>;
    /**
     * Rewrites the specs of existing revisions, all or none (one transaction): only for
     * re-encoding what a spec already says (secrets re-sealed under a new key), never to change
     * what a revision deploys. Throws, changing nothing, if a revision does not exist.
     */
    replaceSpecs(updates: readonly { app: string; number: number; spec: unknown }[]): Promise<void>;
    /** Delete all but the newest `keep`, never deleting any number in `protect`. Returns how many went. */
    prune(app: string, keep: number, protect: readonly number[]): Promise<number>;
  };
  readonly rollouts: {
    /** Throws RolloutConflictError if the app has an unfinished rollout (enforced by the database). */
    create(input: NewRollout): Promise<RolloutRecord>;
    /**
     * Creates a revision and the rollout to it in one transaction: a rollback journals its copy of
     * the target and itself before it switches. Nothing is created when the rollout is refused
     * (RolloutConflictError).
     *
     * `flush: 'next'`: the write survives a crash of this process as soon as the promise resolves,
     * and a power loss once the next write of this store resolves (it does not wait for the disk
     * itself). The rollback journals with it, switches, then writes its switch event (durable)
     * before it answers.
     */
    createWithRevision(
      revision: NewRevision,
      rollout: Omit<NewRollout, 'app' | 'toRevision'>,
      options?: { readonly flush?: 'now' | 'next' },
    ): Promise<{ revision: RevisionRecord; rollout: RolloutRecord }>;
    get(id: string): Promise<RolloutRecord | undefined>;
    /** The app's unfinished rollout, if any. */
    active(app: string): Promise<RolloutRecord | undefined>;
    /** Every unfinished rollout of every app (for the reconcile loop after a restart). */
    listActive(): Promise<RolloutRecord[]>;
    /** Newest first. */
    list(app: string, limit?: number): Promise<RolloutRecord[]>;
    /** Applies the patch and bumps generation. A terminal phase marks the rollout finished. */
    update(id: string, patch: RolloutPatch, expectedGeneration?: number): Promise<RolloutRecord>;
  };
  readonly events: {
    append(event: NewEvent): Promise<EventRecord>;
    /**
     * Calls `listener` after each event this process appends (not those of another process
     * sharing the database), in append order; returns the unsubscribe. A listener must not throw.
     */
    onAppend(listener: (event: EventRecord) => void): () => void;
    /** Oldest first. */
    list(filter: {
      app?: string;
      rolloutId?: string;
      afterId?: number;
      limit?: number;
    }): Promise<EventRecord[]>;
  };
  readonly incidents: {
    /** Throws if the app is unknown or the id is taken. A Resolved status sets resolvedAt. */
    create(input: NewIncident): Promise<IncidentRecord>;
    get(id: string): Promise<IncidentRecord | undefined>;
    /** Newest first; every app when `app` is absent. */
    list(filter?: { app?: string; limit?: number }): Promise<IncidentRecord[]>;
    /**
     * Applies the patch and bumps updatedAt; throws if the id is unknown. Moving to Resolved sets
     * resolvedAt (kept if already set) unless the patch gives resolvedAt itself.
     */
    update(id: string, patch: IncidentPatch): Promise<IncidentRecord>;
  };
  readonly drills: {
    /** Starts Running. Throws if the app is unknown or the id is taken. */
    create(input: NewDrill): Promise<DrillRecord>;
    get(id: string): Promise<DrillRecord | undefined>;
    /** Newest first; every app when `app` is absent, every status when `status` is. */
    list(filter?: { app?: string; status?: DrillStatus; limit?: number }): Promise<DrillRecord[]>;
    /** Applies the patch and bumps updatedAt; a status other than Running sets finishedAt. Throws if unknown. */
    update(id: string, patch: DrillPatch): Promise<DrillRecord>;
  };
  readonly flagSets: {
    /** Assigns the next version atomically, even with concurrent callers. Throws if the app is unknown. */
    create(input: NewFlagSet): Promise<FlagSetRecord>;
    get(app: string, version: number): Promise<FlagSetRecord | undefined>;
    latest(app: string): Promise<FlagSetRecord | undefined>;
    /** Newest first. */
    list(app: string, limit?: number): Promise<FlagSetRecord[]>;
    /**
     * Tells `listener` about versions created by every controller sharing this database, within
     * milliseconds (PostgreSQL LISTEN/NOTIFY). SQLite is one process's store: nothing is delivered.
     * Returns the function that stops watching.
     */
    watch(listener: ChangeListener): () => void;
  };
  readonly tokens: {
    /** Throws TokenNameTakenError when an unrevoked token has the name. */
    create(input: NewToken): Promise<TokenRecord>;
    byHash(hash: string): Promise<TokenRecord | undefined>;
    /** Every token, revoked ones too, oldest first. */
    list(): Promise<TokenRecord[]>;
    /** Revokes the unrevoked token with this name; false when there is none. */
    revoke(name: string): Promise<boolean>;
  };
  readonly audit: {
    /**
     * Appends after the current head of the chain. `hashOf(prevHash)` gives the new entry's hash;
     * it is called again with the new head when another writer appended first.
     */
    append(entry: NewAuditEntry, hashOf: (prevHash: string) => string): Promise<AuditRecord>;
    /** Oldest first. */
    list(filter?: {
      app?: string;
      sinceAt?: number;
      afterId?: number;
      limit?: number;
    }): Promise<AuditRecord[]>;
  };
  readonly analysis: {
    /**
     * Records seconds of a rollout's analysis series (a second already held for the revision is
     * replaced) and forgets every second before `keepFrom`, in one transaction. Throws if the
     * rollout is unknown.
     */
    record(rolloutId: string, seconds: readonly AnalysisSecond[], keepFrom: number): Promise<void>;
    /** The rollout's series, by revision then second. */
    load(rolloutId: string): Promise<AnalysisSecond[]>;
    /** Forgets the rollout's series (of one revision when given): its analysis is over or starts again. */
    drop(rolloutId: string, revision?: number): Promise<void>;
  };
  close(): Promise<void>;
}
