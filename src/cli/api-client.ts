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

/** HOST, HOST:PORT or [IPv6]:PORT, with an optional path: a URL written without its scheme. */
const BARE_HOST = /^(?:\[[0-9a-f:.]+\]|[^\s/:[\]]+)(?::\d{1,5})?(?:\/\S*)?$/i;

/**
 * The server's URL: --url wins over $REWIND_URL, which wins over the default. A URL written
 * without a scheme (127.0.0.1:7070) means http:// (a server with server.tls needs https://
 * written out); any other scheme, or text that is no URL, is refused naming where it came from.
 */
export function serverUrl(
  flag = cliSettings.url,
  env = process.env.REWIND_URL,
): { readonly url: string; readonly source: string } {
  const [raw, source] = flag ? [flag, '--url'] : env ? [env, '$REWIND_URL'] : [DEFAULT_URL, 'the default'];
  const text = raw.trim();
  const hasScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text);
  const full = hasScheme ? text : BARE_HOST.test(text) ? `http://${text}` : null;
  let url: URL | null = null;
  try {
    url = full === null ? null : new URL(full);
  } catch {}
  if (url === null || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '') {
    const scheme = hasScheme ? ` (${text.split(':')[0]}:// is not a scheme the server speaks)` : '';
    throw new RewindError(
      'VALIDATION_FAILED',
      `${source} "${raw}" is not the server's URL${scheme}; write http://HOST:PORT (https:// for a server with server.tls), for example ${DEFAULT_URL}`,
    );
  }
  return { url: full!.replace(/\/+$/, ''), source };
}

export class ApiClient {
  readonly base: string;
  /** Where base came from (--url, $REWIND_URL, the default), for messages. */
  readonly #baseSource: string;
  readonly #credentials: Credentials;

  constructor(base?: string, token?: string) {
    const server = base === undefined ? serverUrl() : { url: base.replace(/\/$/, ''), source: 'the caller' };
    this.base = server.url;
    this.#baseSource = server.source;
    this.#credentials = token ? { token, source: 'the caller' } : credentials();
  }

  #unreachable(err: unknown, timeoutMs: number): UnreachableError {
    const e = err as Error & { code?: string };
    const why = e.name === 'AbortError' ? `no answer within ${timeoutMs / 1000} s` : (e.code ?? e.message);
    return new UnreachableError(
      `cannot reach the Rewind server at ${this.base} (${why}; ${this.#baseSource === 'the default' ? 'the default URL' : `URL from ${this.#baseSource}`}); start it with \`npm start\`, or point --url or REWIND_URL at it`,
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

  /**
   * `id` itself, or for `latest` the id of the newest item of a list answered newest first
   * (/incidents, /drills): what a user types before knowing any id.
   */
  async idOrLatest(id: string, listPath: string, none: RewindError): Promise<string> {
    if (id !== 'latest') return id;
    const [newest] = await this.get<{ id: string }[]>(listPath);
    if (!newest) throw none;
    return newest.id;
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
