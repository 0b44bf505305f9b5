// What the dashboard reads from the API, typed by the code that writes it: the shapes the API
// publishes as schemas (src/api/responses.ts), and the records it passes through whole (a
// rollout's state, an incident, a flag set, a migration plan) from their owners. Type-only
// imports: nothing of the server reaches the bundle.
import type { AppDetail } from '../../../src/api/responses.ts';
import type { Role } from '../../../src/features/auth/roles.ts';
import type { MigrationLint } from '../../../src/features/database/types.ts';
import type { FlagChange, FlagDefinition, FlagSetWarning } from '../../../src/features/flags/flag-set.ts';
import type { RevisionSecond } from '../../../src/server/live-feed.ts';
import type { FlagSetRecord } from '../../../src/store/types.ts';

export type {
  AppDetail,
  Event as RewindEvent,
  RevisionDiff,
  RevisionEntry,
  Rollout,
  RolloutPhase,
} from '../../../src/api/responses.ts';
export type { Role } from '../../../src/features/auth/roles.ts';
export type { BackupRecord } from '../../../src/features/database/backups.ts';
export type { DbPlan, PlanEntry } from '../../../src/features/database/database-service.ts';
export type { LintFinding, MigrationLint } from '../../../src/features/database/types.ts';
export type { FlagChange, FlagDefinition, FlagSetWarning } from '../../../src/features/flags/flag-set.ts';
export type { Incident, VerificationCheck } from '../../../src/features/incidents/incident.ts';
export type { RevisionDiffEntry } from '../../../src/features/revisions/revision-spec.ts';
export type { RevisionSecond, SeriesPoint } from '../../../src/server/live-feed.ts';
export type { RolloutState, Step } from '../../../src/spec/rollout-state.ts';

/** One analysis rule of an app, as its detail lists it. */
export type AppRule = AppDetail['rules'][number];

/** GET /api/v1/session (src/server/routes/dashboard-routes.ts sessionSchema). */
export interface Session {
  readonly name: string;
  readonly role: Role;
  /** The one app the session may see and act on; null for all. */
  readonly app: string | null;
  readonly via: 'session' | 'token';
  readonly expiresAt: number | null;
}

/** The stream's `metrics` message (src/server/live-feed.ts #tick): the last complete second per app. */
export interface MetricsMessage {
  readonly second: number;
  readonly apps: Readonly<Record<string, readonly RevisionSecond[]>>;
}

/** GET /api/v1/apps/{app}/flags (src/server/routes/flag-routes.ts). */
export interface FlagsInForce {
  /** 0 while the app has no flag set yet. */
  readonly version: number;
  readonly flags: Readonly<Record<string, FlagDefinition>>;
  readonly warnings: readonly FlagSetWarning[];
}

/** A flag-set version of GET /api/v1/apps/{app}/flags/history, its diff typed. */
export interface FlagVersion extends Omit<FlagSetRecord, 'diff'> {
  readonly diff: readonly FlagChange[];
}

/** GET /api/v1/apps/{app}/db/lint (src/server/routes/db-routes.ts). */
export interface DbLint {
  readonly app: string;
  readonly version: string;
  readonly migrations: readonly MigrationLint[];
}
