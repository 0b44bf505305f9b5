// The CLI's view of the HTTP API. Every command goes through here: the CLI holds no state.
// The server is $REWIND_URL (or --url); the token is $REWIND_TOKEN, else the admin token the
// server wrote into its data dir ($REWIND_DATA_DIR or --data-dir, default .rewind).
// node:http rather than fetch(): fetch loads undici on first use, which alone costs a short
// command more time than everything else it does (bench/cli.ts). And http or https is loaded
// with the first request, not at start: `--help` needs neither. process.getBuiltinModule, not
// import(): the ESM view of node:http reads all its exports, WebSocket included, which loads
// undici all the same.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ERROR_STATUS, type ErrorCode, RewindError } from '../shared/errors.ts';

export const DEFAULT_URL = 'http://127.0.0.1:7070';
export const DEFAULT_DATA_DIR = '.rewind';

/** Set from the global options (--url, --data-dir) before a command runs. */
export const cliSettings: { url?: string; dataDir?: string } = {};

/** Where the token comes from, for messages: never the token itself. */
interface Credentials {
  readonly token: string | null;
  readonly source: string;
}

function credentials(): Credentials {
  const fromEnv = process.env.REWIND_TOKEN?.trim();
  if (fromEnv) return { token: fromEnv, source: '$REWIND_TOKEN' };
  const dir = cliSettings.dataDir || process.env.REWIND_DATA_DIR || DEFAULT_DATA_DIR;
  const file = join(resolve(dir), 'admin.token');
  try {
    return { token: readFileSync(file, 'utf8').trim() || null, source: file };
  } catch {
    return {
      token: null,
      source: `no $REWIND_TOKEN and no ${file} (set REWIND_TOKEN, or REWIND_DATA_DIR / --data-dir to the server's data dir)`,
    };
  }
}

export class ApiClient {
  readonly base: string;
  readonly #credentials: Credentials;

  constructor(base = cliSettings.url || process.env.REWIND_URL || DEFAULT_URL, token?: string) {
    this.base = base.replace(/\/$/, '');
    this.#credentials = token ? { token, source: 'the caller' } : credentials();
  }

  #unreachable(err: unknown, timeoutMs: number): UnreachableError {
    const e = err as Error & { code?: string };
    const why = e.name === 'AbortError' ? `no answer within ${timeoutMs / 1000} s` : (e.code ?? e.message);
    return new UnreachableError(
      `cannot reach the Rewind server at ${this.base} (${why}); start it with \`npm start\` or set REWIND_URL`,
    );
  }

  /** The answer's status and body; an UnreachableError when there is none within timeoutMs. */
  #send(
    method: 'GET' | 'POST' | 'PUT',
    path: string,
    body?: unknown,
    timeoutMs = 60_000,
  ): Promise<{ status: number; text: string }> {
    const headers: Record<string, string> = {};
    if (this.#credentials.token) headers.authorization = `Bearer ${this.#credentials.token}`;
    // Every mutation carries a JSON body, {} when there is nothing to say: the server refuses
    // mutations without one (a cross-site form or a bodyless POST cannot send it).
    const payload = method === 'GET' ? undefined : JSON.stringify(body ?? {});
    if (payload !== undefined) headers['content-type'] = 'application/json';
    let url: URL;
    try {
      url = new URL(`${this.base}/api/v1${path}`);
    } catch (err) {
      throw this.#unreachable(err, timeoutMs);
    }
    const client =
      url.protocol === 'https:'
        ? process.getBuiltinModule('node:https')
        : process.getBuiltinModule('node:http');
    return new Promise((resolve, reject) => {
      const fail = (err: unknown) => reject(this.#unreachable(err, timeoutMs));
      try {
        const options = { method, headers, signal: AbortSignal.timeout(timeoutMs) };
        const req = client.request(url, options, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
          res.on('error', fail);
        });
        req.on('error', fail);
        req.end(payload);
      } catch (err) {
        // A --url that is not http(s).
        fail(err);
      }
    });
  }

  #error(method: string, path: string, status: number, text: string): RewindError {
    let e: { code?: string; message?: string; details?: Record<string, unknown> } = {};
    try {
      e = (JSON.parse(text) as { error?: typeof e }).error ?? {};
    } catch {}
    const code = (e.code && e.code in ERROR_STATUS ? e.code : 'INTERNAL') as ErrorCode;
    let message = e.message ?? `${method} ${path} answered ${status}`;
    if (code === 'UNAUTHENTICATED') message += ` (token from ${this.#credentials.source})`;
    return new RewindError(code, message, e.details);
  }

  async request<T>(
    method: 'GET' | 'POST' | 'PUT',
    path: string,
    body?: unknown,
    options: { timeoutMs?: number } = {},
  ): Promise<T> {
    const { status, text } = await this.#send(method, path, body, options.timeoutMs);
    if (status < 200 || status > 299) throw this.#error(method, path, status, text);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** A non-JSON answer (the Markdown report). */
  async text(path: string): Promise<string> {
    const { status, text } = await this.#send('GET', path);
    if (status < 200 || status > 299) throw this.#error('GET', path, status, text);
    return text;
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  /** timeoutMs: for the few calls that run long (a round trip of many migrations). */
  post<T>(path: string, body: unknown = {}, options: { timeoutMs?: number } = {}): Promise<T> {
    return this.request<T>('POST', path, body, options);
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
