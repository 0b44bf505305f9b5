// Whether the signed-in session may call a route: the server's own table (ROUTE_POLICIES), so a
// button shows exactly when the API would let its click through.
import { ROUTE_POLICIES } from '../../../src/server/route-policy.ts';
import type { Role, Session } from '../api/types.ts';

const RANK: Readonly<Record<Role, number>> = { viewer: 0, deployer: 1, admin: 2 };

/** `route` as ROUTE_POLICIES keys it: 'POST /api/v1/apps/{app}/rollback'; `app` the one it acts on. */
export function mayCall(session: Pick<Session, 'role' | 'app'>, route: string, app?: string): boolean {
  const policy = ROUTE_POLICIES[route];
  if (!policy) return false;
  if (policy.role === 'public') return true;
  if (policy.role === 'ofrep') return false;
  if (session.app !== null && (policy.scope === 'global' || (app !== undefined && app !== session.app)))
    return false;
  return RANK[session.role] >= RANK[policy.role];
}
