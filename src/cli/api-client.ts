// The CLI's view of the HTTP API. Every command goes through here: the CLI holds no state.
import { hostname } from 'node:os';
import { ERROR_STATUS, type ErrorCode, RewindError } from '../shared/errors.ts';

export const DEFAULT_URL = 'http://127.0.0.1:7070';

/** Who runs the command, recorded with changes (flag-set versions): user@host. */
function actor(): string {
  return `${process.env.USER || process.env.LOGNAME || 'unknown'}@${hostname()}`;
}

export class ApiClient {
  readonly base: string;
  constructor(base = process.env.REWIND_URL || DEFAULT_URL) {
    this.base = base.replace(/\/$/, '');
  }

  async request<T>(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.base}/api/v1${path}`, {
        method,
        headers: {
          'x-rewind-actor': actor(),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(60_000),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      throw new UnreachableError(
        `cannot reach the Rewind server at ${this.base} (${cause}); start it with \`npm start\` or set REWIND_URL`,
      );
    }
    const text = await res.text();
    const data = text ? JSON.parse(text) : undefined;
    if (!res.ok) {
      const e = data?.error ?? {};
      const code = (e.code in ERROR_STATUS ? e.code : 'INTERNAL') as ErrorCode;
      throw new RewindError(code, e.message ?? `${method} ${path} answered ${res.status}`, e.details);
    }
    return data as T;
  }

  /** A non-JSON answer (the Markdown report). */
  async text(path: string): Promise<string> {
    const res = await fetch(`${this.base}/api/v1${path}`, { signal: AbortSignal.timeout(60_000) }).catch(
      (err: Error & { cause?: { code?: string } }) => {
        throw new UnreachableError(
          `cannot reach the Rewind server at ${this.base} (${err.cause?.code ?? err.message}); start it with \`npm start\` or set REWIND_URL`,
        );
      },
    );
    const body = await res.text();
    if (!res.ok) {
      const e = (JSON.parse(body) as { error?: { code?: string; message?: string } }).error ?? {};
      const code = (e.code && e.code in ERROR_STATUS ? e.code : 'INTERNAL') as ErrorCode;
      throw new RewindError(code, e.message ?? `GET ${path} answered ${res.status}`);
    }
    return body;
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  post<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('POST', path, body);
  }

  put<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PUT', path, body);
  }
}

export class UnreachableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnreachableError';
  }
}
