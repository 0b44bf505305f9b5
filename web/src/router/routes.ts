// The dashboard's pages and their paths: one table both ways, so that a link and the page it
// opens cannot disagree.

export type Route =
  | { readonly page: 'apps' }
  | { readonly page: 'app'; readonly app: string }
  | { readonly page: 'rollout'; readonly app: string; readonly id: string }
  | { readonly page: 'history'; readonly app: string }
  | { readonly page: 'flags'; readonly app: string }
  | { readonly page: 'database'; readonly app: string }
  | { readonly page: 'incidents' }
  | { readonly page: 'incident'; readonly id: string }
  | { readonly page: 'not-found'; readonly path: string };

const enc = encodeURIComponent;

export const paths = {
  apps: () => '/',
  app: (app: string) => `/apps/${enc(app)}`,
  rollout: (app: string, id: string) => `/apps/${enc(app)}/rollouts/${enc(id)}`,
  history: (app: string) => `/apps/${enc(app)}/history`,
  flags: (app: string) => `/apps/${enc(app)}/flags`,
  database: (app: string) => `/apps/${enc(app)}/database`,
  incidents: () => '/incidents',
  incident: (id: string) => `/incidents/${enc(id)}`,
};

const decode = (part: string) => {
  try {
    return decodeURIComponent(part);
  } catch {
    return null;
  }
};

export function matchRoute(pathname: string): Route {
  const parts = pathname.split('/').filter(Boolean).map(decode);
  if (parts.some((p) => p === null)) return { page: 'not-found', path: pathname };
  const [a, b, c, d, ...rest] = parts as string[];
  if (rest.length > 0) return { page: 'not-found', path: pathname };
  if (a === undefined) return { page: 'apps' };
  if (a === 'incidents' && c === undefined)
    return b === undefined ? { page: 'incidents' } : { page: 'incident', id: b };
  if (a === 'apps' && b !== undefined) {
    if (c === undefined) return { page: 'app', app: b };
    if (c === 'rollouts' && d !== undefined) return { page: 'rollout', app: b, id: d };
    if (d === undefined && (c === 'history' || c === 'flags' || c === 'database')) return { page: c, app: b };
  }
  return { page: 'not-found', path: pathname };
}
