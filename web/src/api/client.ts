// The dashboard's calls to the API: same-origin requests that carry the session cookie; changes as
// JSON, so the server sees our Origin and a JSON body (api-guard.ts refuses anything else).

/** A refusal or failure of the API, with the code and message of its error body. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;

  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

const listeners = new Set<() => void>();

/** Called when the API says the session is gone (401): the dashboard then asks to sign in again. */
export function onSignedOut(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

async function errorOf(res: Response): Promise<ApiError> {
  const text = await res.text().catch(() => '');
  try {
    const body = JSON.parse(text) as { error?: { code?: string; message?: string } };
    if (body.error?.message) return new ApiError(res.status, body.error.code ?? 'ERROR', body.error.message);
  } catch {}
  return new ApiError(
    res.status,
    'HTTP_ERROR',
    `${res.status} ${res.statusText}${text ? `: ${text.slice(0, 200)}` : ''}`,
  );
}

async function call(path: string, init: RequestInit): Promise<Response> {
  const res = await fetch(path, { credentials: 'same-origin', ...init });
  if (res.ok) return res;
  const err = await errorOf(res);
  if (res.status === 401) for (const l of listeners) l();
  throw err;
}

export async function getJson<T>(path: string, signal?: AbortSignal): Promise<T> {
  const res = await call(path, { headers: { accept: 'application/json' }, signal: signal ?? null });
  return (await res.json()) as T;
}

/** A change: `body` as JSON ({} when there is nothing to say); the answer's JSON, or null for 204. */
export async function send<T = unknown>(
  method: 'POST' | 'PUT',
  path: string,
  body: object = {},
): Promise<T | null> {
  const res = await call(path, {
    method,
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify(body),
  });
  return res.status === 204 ? null : ((await res.json()) as T);
}

/** An app's API path: apiPath('shop', 'flags', 'recommendations') -> /api/v1/apps/shop/flags/recommendations. */
export const apiPath = (app: string, ...rest: string[]): string =>
  ['/api/v1/apps', app, ...rest].map((p, i) => (i === 0 ? p : encodeURIComponent(p))).join('/');
