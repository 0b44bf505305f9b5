// Reading one API resource in a component: fetched when its path (or `version`) changes, the last
// answer kept while the next one loads, so a page refreshed by an event does not flicker.
import { useCallback, useEffect, useState } from 'react';
import { getJson } from './client.ts';

export interface Resource<T> {
  readonly data: T | undefined;
  readonly error: Error | undefined;
  readonly loading: boolean;
  readonly reload: () => void;
}

/** `path` null: nothing to fetch yet. `version`: a value whose change fetches again (an event id). */
export function useApi<T>(path: string | null, version: unknown = 0): Resource<T> {
  const [state, setState] = useState<{ path: string | null; data?: T; error?: Error; loading: boolean }>({
    path,
    loading: path !== null,
  });
  const [nonce, setNonce] = useState(0);
  const reload = useCallback(() => setNonce((n) => n + 1), []);

  // biome-ignore lint/correctness/useExhaustiveDependencies: version and nonce only ask for a fetch again.
  useEffect(() => {
    if (path === null) return;
    const abort = new AbortController();
    setState((s) => ({ ...(s.path === path ? s : { path }), loading: true }));
    getJson<T>(path, abort.signal).then(
      (data) => setState({ path, data, loading: false }),
      (error: Error) => {
        if (!abort.signal.aborted) setState((s) => ({ ...s, error, loading: false }));
      },
    );
    return () => abort.abort();
  }, [path, version, nonce]);

  const current = state.path === path;
  return {
    data: current ? state.data : undefined,
    error: current ? state.error : undefined,
    loading: path !== null && (!current || state.loading),
    reload,
  };
}
