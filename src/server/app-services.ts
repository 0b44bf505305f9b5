// What the HTTP API is built from: the services the composition root (main.ts) wires.
import type { DatabaseService } from '../features/database/database-service.ts';
import type { DrillService } from '../features/drills/drill-service.ts';
import type { FlagService } from '../features/flags/flag-service.ts';
import type { IncidentService } from '../features/incidents/incident-service.ts';
import type { RotationResult } from '../features/revisions/rotate-secrets-key.ts';
import type { Controller } from '../features/rollouts/controller.ts';
import type { MetricsBucket, RouteTable } from '../providers/builtin/proxy/types.ts';
import type { Runtime } from '../providers/runtime.ts';
import type { Store } from '../store/types.ts';
import type { GuardOptions } from './api-guard.ts';
import type { Health } from './health.ts';

export interface AppServices {
  readonly controller: Controller;
  readonly flags: FlagService;
  readonly database: DatabaseService;
  readonly store: Store;
  readonly runtime: Runtime;
  readonly metrics: (app: string, sinceSecond: number) => Promise<MetricsBucket[]>;
  readonly routes: (app: string) => Promise<RouteTable | undefined>;
  readonly incidents: IncidentService;
  /** Rollback drills (features/drills). */
  readonly drills: DrillService;
  readonly version: string;
  /** Tokens, audit trail, Host/Origin policy (api-guard.ts). */
  readonly security: GuardOptions;
  /** `rewind secrets rotate-key`: re-seal every stored secret under a new key. */
  readonly rotateSecretsKey?: (newKey: string) => Promise<RotationResult>;
  /** /healthz and /readyz (health.ts). Default: the store alone, for an API without a data plane. */
  readonly health?: Health;
  /** The built dashboard (default: web/dist of this checkout). */
  readonly webRoot?: string;
  /** Errors of background work (the dashboard's live feed), for the log. */
  readonly onError?: (err: unknown) => void;
  /** TLS: PEM certificate and key (server.tls in rewind.yaml). */
  readonly https?: { readonly cert: Buffer; readonly key: Buffer };
}
