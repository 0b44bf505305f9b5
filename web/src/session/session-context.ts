// The signed-in session, for the components that decide which buttons to show.
import { createContext, useContext } from 'react';
import type { Session } from '../api/types.ts';
import { mayCall } from './permissions.ts';

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error('useSession outside a signed-in page');
  return session;
}

/** Whether the session may call `route` (ROUTE_POLICIES' key) on `app`. */
export function useMay(route: string, app?: string): boolean {
  return mayCall(useSession(), route, app);
}
