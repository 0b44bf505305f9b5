// The dashboard: who is signed in decides between the sign-in page and the pages; the path
// decides the page; the live stream feeds them all.
import { useEffect, useState } from 'react';
import { ApiError, getJson, onSignedOut, send } from './api/client.ts';
import type { Session } from './api/types.ts';
import { AppPage } from './apps/app-page.tsx';
import { AppsPage } from './apps/apps-page.tsx';
import { DatabasePage } from './database/database-page.tsx';
import { FlagsPage } from './flags/flags-page.tsx';
import { HistoryPage } from './history/history-page.tsx';
import { IncidentPage } from './incidents/incident-page.tsx';
import { IncidentsPage } from './incidents/incidents-page.tsx';
import { startLive, stopLive, useLive } from './live/live-store.ts';
import { RolloutPage } from './rollouts/rollout-page.tsx';
import { Link, usePath } from './router/router.tsx';
import { matchRoute, paths, type Route } from './router/routes.ts';
import { SessionContext } from './session/session-context.ts';
import { SignInPage } from './session/sign-in-page.tsx';
import { Empty, Loading, PageTitle, Problem } from './ui/bits.tsx';

type SessionState =
  | { kind: 'loading' }
  | { kind: 'in'; session: Session }
  | { kind: 'out' }
  | { kind: 'error'; error: Error };

export function App() {
  const [state, setState] = useState<SessionState>({ kind: 'loading' });
  const [attempt, setAttempt] = useState(0);

  // biome-ignore lint/correctness/useExhaustiveDependencies: attempt only asks again.
  useEffect(() => {
    getJson<Session>('/api/v1/session').then(
      (session) => setState({ kind: 'in', session }),
      (error: Error) =>
        setState(
          error instanceof ApiError && error.status === 401 ? { kind: 'out' } : { kind: 'error', error },
        ),
    );
  }, [attempt]);

  useEffect(
    () =>
      onSignedOut(() => {
        stopLive();
        setState({ kind: 'out' });
      }),
    [],
  );

  useEffect(() => {
    if (state.kind !== 'in') return;
    startLive(() => setState({ kind: 'out' }));
  }, [state.kind]);

  if (state.kind === 'loading') return <Loading what="the session" />;
  if (state.kind === 'out') return <SignInPage />;
  if (state.kind === 'error')
    return (
      <main id="main">
        <Problem error={state.error} />
        <button type="button" onClick={() => setAttempt((n) => n + 1)}>
          Try again
        </button>
      </main>
    );
  return (
    <SessionContext.Provider value={state.session}>
      <Shell session={state.session} onSignOut={() => setState({ kind: 'out' })} />
    </SessionContext.Provider>
  );
}

function Shell({ session, onSignOut }: { session: Session; onSignOut: () => void }) {
  const live = useLive();
  const route = matchRoute(usePath());
  const ready = live.apps !== null;

  // The page is drawn with data once the first `apps` message is: <html data-ready="1"> says so
  // to whoever waits for it (the browser stories, bench/dashboard.ts).
  useEffect(() => {
    if (ready) document.documentElement.dataset.ready = '1';
  }, [ready]);

  const signOut = async () => {
    await send('POST', '/api/v1/session/signout').catch(() => {});
    stopLive();
    onSignOut();
  };

  return (
    <>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <Link href={paths.apps()} className="brand">
          Rewind
        </Link>
        <nav aria-label="Main">
          <Link
            className="nav-link"
            href={paths.apps()}
            aria-current={route.page === 'apps' ? 'page' : undefined}
          >
            Apps
          </Link>
          <Link
            className="nav-link"
            href={paths.incidents()}
            aria-current={route.page === 'incidents' || route.page === 'incident' ? 'page' : undefined}
          >
            Incidents
          </Link>
        </nav>
        <span className={`conn conn-${live.connection}`} role="status">
          {live.connection === 'live'
            ? 'live'
            : live.connection === 'connecting'
              ? 'connecting…'
              : 'reconnecting…'}
        </span>
        <span
          className="who"
          title={
            session.expiresAt ? `session ends ${new Date(session.expiresAt).toLocaleString()}` : undefined
          }
        >
          {session.name} · {session.role}
          {session.app ? ` · ${session.app} only` : ''}
        </span>
        {session.via === 'session' && (
          <button type="button" className="link" onClick={signOut}>
            Sign out
          </button>
        )}
      </header>
      <main id="main">
        <Page route={route} />
      </main>
    </>
  );
}

function Page({ route }: { route: Route }) {
  switch (route.page) {
    case 'apps':
      return <AppsPage />;
    case 'app':
      return <AppPage app={route.app} />;
    case 'rollout':
      return <RolloutPage app={route.app} id={route.id} />;
    case 'history':
      return <HistoryPage app={route.app} />;
    case 'flags':
      return <FlagsPage app={route.app} />;
    case 'database':
      return <DatabasePage app={route.app} />;
    case 'incidents':
      return <IncidentsPage />;
    case 'incident':
      return <IncidentPage id={route.id} />;
    case 'not-found':
      return (
        <>
          <PageTitle>Not found</PageTitle>
          <Empty>
            There is no page at {route.path}. <Link href={paths.apps()}>See the apps</Link>.
          </Empty>
        </>
      );
  }
}
