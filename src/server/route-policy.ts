// Who may call each route: the one table the auth hook enforces and the OpenAPI document
// publishes. A route missing from it fails the server at start (see build-app.ts onRoute), so
// no route is ever open by omission.
import type { Role } from '../features/auth/roles.ts';

/**
 * - role: the weakest role that may call the route; 'public' needs no token; 'ofrep' takes the
 *   app's flag token (REWIND_OFREP_TOKEN) or any token that may read the app.
 * - scope: how a token scoped to one app is checked. app: the :app path parameter; handler: the
 *   handler checks the record it loads (or filters its list); global: app-scoped tokens refused.
 * - escalates: why the body can ask for more than `role` (checked by the handler).
 * - leader: the route acts through the reconcile loop or on the apps' databases, which only the
 *   leader runs when several controllers share a store: a follower refuses it, naming the leader.
 */
export interface RoutePolicy {
  readonly role: Role | 'public' | 'ofrep';
  readonly scope: 'app' | 'handler' | 'global';
  readonly escalates?: string;
  readonly leader?: true;
}

const viewer = (scope: RoutePolicy['scope'] = 'app'): RoutePolicy => ({ role: 'viewer', scope });
const deployer: RoutePolicy = { role: 'deployer', scope: 'app' };
const admin = (scope: RoutePolicy['scope'] = 'app'): RoutePolicy => ({ role: 'admin', scope });
/** Only the leader acts on it. */
const leads = (policy: RoutePolicy): RoutePolicy => ({ ...policy, leader: true });

/** Keyed by `METHOD path`, the path in OpenAPI form with the /api/v1 prefix. */
export const ROUTE_POLICIES: Readonly<Record<string, RoutePolicy>> = {
  // Public: load balancers have no token. They say ok/degraded and which part, nothing more.
  'GET /healthz': { role: 'public', scope: 'global' },
  'GET /readyz': { role: 'public', scope: 'global' },
  'GET /metrics': viewer('global'),
  // The dashboard's files and pages hold no data (the data comes from the API); /signin checks its
  // one-time code itself.
  'GET /': { role: 'public', scope: 'global' },
  'GET /*': { role: 'public', scope: 'global' },
  'GET /signin': { role: 'public', scope: 'global' },
  'GET /api/v1/session': viewer('handler'),
  'POST /api/v1/session/signout': viewer('handler'),
  'POST /api/v1/session/links': viewer('handler'),
  // Filtered per caller: an app-scoped token sees its app alone.
  'GET /api/v1/stream': viewer('handler'),
  'GET /api/v1/apps/{app}/series': viewer(),
  'GET /api/v1/openapi.json': viewer('handler'),
  'GET /api/v1/apps': viewer('handler'),
  'GET /api/v1/apps/{app}': viewer(),
  'GET /api/v1/apps/{app}/revisions': viewer(),
  'GET /api/v1/apps/{app}/revisions/diff': viewer(),
  'GET /api/v1/apps/{app}/config': viewer(),
  'POST /api/v1/apps/{app}/config': leads({
    ...deployer,
    escalates: 'setting or unsetting secrets needs admin',
  }),
  'GET /api/v1/apps/{app}/rollouts': viewer(),
  'POST /api/v1/apps/{app}/deploy': leads({
    ...deployer,
    escalates: 'env keys that change how code is loaded (NODE_OPTIONS, LD_*, PATH...) need admin',
  }),
  'POST /api/v1/apps/{app}/rollback': leads(deployer),
  'POST /api/v1/apps/{app}/promote': leads(deployer),
  'POST /api/v1/apps/{app}/abort': leads(deployer),
  'POST /api/v1/apps/{app}/pause': leads(deployer),
  'POST /api/v1/apps/{app}/resume': leads(deployer),
  'POST /api/v1/apps/{app}/maintenance': leads(deployer),
  'GET /api/v1/apps/{app}/logs': viewer(),
  'GET /api/v1/apps/{app}/metrics': viewer(),
  'GET /api/v1/apps/{app}/events': viewer(),
  'GET /api/v1/rollouts/{id}': viewer('handler'),
  'GET /api/v1/rollouts/{id}/events': viewer('handler'),
  'GET /api/v1/incidents': viewer('handler'),
  'GET /api/v1/incidents/{id}': viewer('handler'),
  'POST /api/v1/apps/{app}/drills': leads(deployer),
  'GET /api/v1/drills': viewer('handler'),
  'GET /api/v1/drills/{id}': viewer('handler'),
  'GET /api/v1/apps/{app}/flags': viewer(),
  'PUT /api/v1/apps/{app}/flags': deployer,
  'GET /api/v1/apps/{app}/flags/history': viewer(),
  'GET /api/v1/apps/{app}/flags/versions/{version}': viewer(),
  'POST /api/v1/apps/{app}/flags/rollback': deployer,
  'GET /api/v1/apps/{app}/flags/{key}': viewer(),
  'PUT /api/v1/apps/{app}/flags/{key}': deployer,
  'POST /api/v1/apps/{app}/flags/{key}/enable': deployer,
  'POST /api/v1/apps/{app}/flags/{key}/disable': deployer,
  'POST /api/v1/apps/{app}/ofrep/v1/evaluate/flags/{key}': { role: 'ofrep', scope: 'app' },
  'POST /api/v1/apps/{app}/ofrep/v1/evaluate/flags': { role: 'ofrep', scope: 'app' },
  'GET /api/v1/apps/{app}/db/plan': viewer(),
  'GET /api/v1/apps/{app}/db/lint': viewer(),
  // Runs on a scratch copy of the schema, never the app's database, but it creates and drops
  // that scratch database on the app's server: a deployer's, like db verify.
  'POST /api/v1/apps/{app}/db/roundtrip': leads(deployer),
  'GET /api/v1/apps/{app}/db/backups': viewer(),
  'POST /api/v1/apps/{app}/db/migrate': leads(deployer),
  'POST /api/v1/apps/{app}/db/backup': leads(deployer),
  'POST /api/v1/apps/{app}/db/verify': leads(deployer),
  'POST /api/v1/apps/{app}/db/contract': leads(admin()),
  'POST /api/v1/apps/{app}/db/rollback': leads(admin()),
  'POST /api/v1/apps/{app}/db/restore': leads(admin()),
  'GET /api/v1/audit': viewer('handler'),
  'POST /api/v1/secrets/rotate-key': admin('global'),
  'GET /api/v1/tokens': admin('global'),
  'POST /api/v1/tokens': admin('global'),
  'POST /api/v1/tokens/{name}/revoke': admin('global'),
};

/** `/api/v1/apps/:app/flags/:key` -> `/api/v1/apps/{app}/flags/{key}`. */
export function openApiPath(fastifyUrl: string): string {
  return fastifyUrl.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

export function policyOf(method: string, fastifyUrl: string): RoutePolicy | undefined {
  return ROUTE_POLICIES[`${method} ${openApiPath(fastifyUrl)}`];
}
