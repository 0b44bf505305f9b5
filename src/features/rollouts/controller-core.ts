// What the parts of the controller share: its dependencies, the rollout driver and the reporter,
// the analysis' memory, the scheduler and the apps. The Controller (controller.ts) builds one and
// hands it to the commands, the reconcile tick and the rest; none of them holds state of its own.
import type { MetricsSource } from '../../providers/metrics-source.ts';
import type { Logger } from '../../shared/logger.ts';
import type { Store } from '../../store/types.ts';
import type { RolloutDatabase } from '../database/rollout-database.ts';
import type { FlagService } from '../flags/flag-service.ts';
import type { IncidentService } from '../incidents/incident-service.ts';
import type { NotificationInput } from '../notifications/notification-hub.ts';
import type { RevisionSpec } from '../revisions/revision-spec.ts';
import type { SecretBox } from '../revisions/secret-box.ts';
import type { AppContext, ManagedApp } from './app-context.ts';
import type { RolloutDriver } from './rollout-driver.ts';
import type { RolloutReporter } from './rollout-reporter.ts';
import type { RolloutWatch } from './rollout-watch.ts';
import type { Scheduler } from './scheduler.ts';

export interface ControllerDeps {
  readonly store: Store;
  readonly log: Logger;
  /** Per-second traffic counters of each revision (the built-in proxy's by default). */
  readonly metrics: MetricsSource;
  readonly incidents: IncidentService;
  readonly notify: (n: NotificationInput) => void;
  /** Migrations of apps that declare a database. */
  readonly database?: RolloutDatabase & {
    /** Checks the migrations `version` brings (folder, files, lint) and returns its migration level; throws a RewindError. */
    prepare(ctx: AppContext, version: string): Promise<number>;
  };
  /** Flag sets: a revision records the version in force, a rollback restores it. */
  readonly flags?: FlagService;
  /** Opens sealed secrets when instances start; without a key, revisions with secrets cannot start. */
  readonly secrets?: SecretBox;
  /** Where the app's instances reach Rewind's OFREP endpoints (REWIND_OFREP_URL), if served. */
  readonly ofrepUrl?: (app: string) => string;
  /** The app's read-only flag token for OFREP (REWIND_OFREP_TOKEN), if served. */
  readonly ofrepToken?: (app: string) => string;
  /**
   * The flagd sync listener, if served: instances get the flagd providers' own FLAGD_* settings
   * (in-process, this host and port, the app as selector), so `new FlagdProvider()` needs no options.
   */
  readonly flagdSync?: { readonly host: string; readonly port: number; readonly tls: boolean };
  readonly tickMs?: number;
}

export interface ControllerCore {
  readonly deps: ControllerDeps;
  readonly driver: RolloutDriver;
  readonly reporter: RolloutReporter;
  readonly watch: RolloutWatch;
  readonly scheduler: Scheduler;
  /** The app under the controller; throws APP_NOT_FOUND naming the apps it has. */
  context(app: string): ManagedApp;
  /** The environment an instance of the revision runs with; throws when a secret cannot be opened. */
  envOf(app: string, spec: RevisionSpec): Record<string, string>;
}

/** The app's flag-set version in force, or null when it has none (or no flags are served). */
export async function flagSetVersion(core: ControllerCore, app: string): Promise<number | null> {
  if (!core.deps.flags) return null;
  const v = (await core.deps.flags.current(app)).version;
  return v === 0 ? null : v;
}
