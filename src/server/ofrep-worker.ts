// Worker thread entry: OFREP on its own listener, off the controller's event loop (ADR 0004). The
// main thread pushes every flag set in force (OfrepHost, ofrep-host.ts); this thread answers
// POST /api/v1/apps/{app}/ofrep/v1/evaluate/flags[/{key}] from them with the same admission rules,
// paths and bodies as the API listener: Host, Origin and content-type checked as api-guard.ts does,
// the app's flag token (REWIND_OFREP_TOKEN) checked here, any other token checked by the main
// thread's TokenService (so a revoke holds at once), and answers from ofrep.ts's pure functions.
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { parentPort, workerData } from 'node:worker_threads';
import { OfrepTokens } from '../features/auth/ofrep-tokens.ts';
import type { TokenCheck } from '../features/auth/token-service.ts';
import type { FlagSet } from '../features/flags/flag-set.ts';
import { OfrepAnswers, type OfrepReply, ofrepErrorReply } from '../features/flags/ofrep-answers.ts';
import { RewindError } from '../shared/errors.ts';
import { bearerOf, hostMatcher, isJsonType, refuse } from './api-guard.ts';

export interface FlagSetPush {
  readonly app: string;
  readonly version: number;
  readonly document: FlagSet;
}

export interface OfrepWorkerData {
  readonly host: string;
  readonly port: number;
  readonly https?: { readonly cert: Uint8Array; readonly key: Uint8Array };
  /** The key of the apps' flag tokens (ofrep-tokens.ts). */
  readonly flagTokenKey: Uint8Array;
  readonly allowedHosts: readonly string[];
  readonly allowedOrigins: readonly string[];
  /** Every app's flag set in force, in the controller's order (an app missing here is unknown). */
  readonly sets: readonly FlagSetPush[];
}

export type ToOfrepWorker =
  | { readonly op: 'set'; readonly id: number; readonly set: FlagSetPush }
  | { readonly op: 'token'; readonly id: number; readonly check: TokenCheck };

export type FromOfrepWorker =
  | { readonly op: 'listening'; readonly port: number }
  | { readonly op: 'listen-failed'; readonly code: string; readonly message: string }
  | { readonly op: 'ack'; readonly id: number }
  | { readonly op: 'set-failed'; readonly app: string; readonly version: number; readonly message: string }
  | { readonly op: 'check-token'; readonly id: number; readonly token: string };

/** As Fastify's default: the largest request body read. */
const BODY_LIMIT = 1 << 20;
const PATH = /^\/api\/v1\/apps\/([^/?]+)\/ofrep\/v1\/evaluate\/flags(?:\/([^/?]+))?(?:\?.*)?$/;
const JSON_TYPE = 'application/json; charset=utf-8';

const parent = parentPort;
if (parent === null) throw new Error('ofrep-worker must run in a worker thread');
const data = workerData as OfrepWorkerData;

const answers = new Map<string, OfrepAnswers>();
/**
 * The evaluator is built here, so a change costs the API's thread only the message. A set that
 * does not load (the main thread loaded it first, so this is a bug) keeps the previous one in force
 * and is reported, rather than killing the thread into a restart loop with the same sets.
 */
const apply = (push: FlagSetPush): void => {
  const now = answers.get(push.app);
  if (now && now.version > push.version) return;
  try {
    answers.set(push.app, new OfrepAnswers(push.version, push.document, now));
  } catch (err) {
    parent.postMessage({
      op: 'set-failed',
      app: push.app,
      version: push.version,
      message: (err as Error).message,
    } satisfies FromOfrepWorker);
  }
};
for (const push of data.sets) apply(push);

const flagTokens = new OfrepTokens(Buffer.from(data.flagTokenKey));
// Set once listening: the Host names this listener's port, known only then when asked for port 0.
let hostAllowed: (host: string) => boolean = () => false;
const origins = new Set(data.allowedOrigins.map((o) => o.replace(/\/$/, '').toLowerCase()));

let nextTokenCheck = 1;
const tokenChecks = new Map<number, (check: TokenCheck) => void>();
const checkToken = (token: string): Promise<TokenCheck> =>
  new Promise((resolve) => {
    const id = nextTokenCheck++;
    tokenChecks.set(id, resolve);
    parent.postMessage({ op: 'check-token', id, token } satisfies FromOfrepWorker);
  });

parent.on('message', (msg: ToOfrepWorker) => {
  if (msg.op === 'set') {
    apply(msg.set);
    parent.postMessage({ op: 'ack', id: msg.id } satisfies FromOfrepWorker);
  } else {
    tokenChecks.get(msg.id)?.(msg.check);
    tokenChecks.delete(msg.id);
  }
});

const refusal = (err: RewindError, key: string | undefined): OfrepReply =>
  ofrepErrorReply(err.status, err.message, key);

/** Headers of the bulk replies OfrepAnswers caches: built once per reply, not per request. */
const cachedHeaders = new WeakMap<OfrepReply, OutgoingHttpHeaders>();

function headersOf(reply: OfrepReply): OutgoingHttpHeaders {
  let headers = cachedHeaders.get(reply);
  if (headers) return headers;
  headers = {
    ...(reply.etag !== undefined && { etag: reply.etag }),
    ...(reply.body !== undefined && {
      'content-type': JSON_TYPE,
      'content-length': Buffer.byteLength(reply.body),
    }),
  };
  if (reply.etag !== undefined) cachedHeaders.set(reply, headers);
  return headers;
}

function send(res: ServerResponse, reply: OfrepReply): void {
  res.writeHead(reply.status, headersOf(reply));
  res.end(reply.body);
}

/** Refusal or null, in api-guard.ts's order: Host, Origin, content-type, then the token. */
async function admit(req: IncomingMessage, app: string): Promise<RewindError | null> {
  const host = req.headers.host ?? '';
  if (!hostAllowed(host)) return refuse.host(host);
  const origin = req.headers.origin;
  if (origin !== undefined && !origins.has(origin.toLowerCase())) return refuse.origin(origin);
  const type = req.headers['content-type'] ?? '';
  if (!isJsonType(type)) return refuse.mediaType(type);
  const token = bearerOf(req.headers.authorization);
  if (token && flagTokens.matches(app, token)) return null;
  if (!token) return refuse.noToken();
  const check = await checkToken(token);
  if (!check.ok) return refuse.badToken(check.problem);
  // Every role may read flags; a token scoped to another app may not.
  if (check.principal.app && check.principal.app !== app) return refuse.otherApp(check.principal, app);
  return null;
}

function readBody(req: IncomingMessage): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > BODY_LIMIT) {
        resolve(null);
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () =>
      resolve(chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8')),
    );
    req.on('error', reject);
  });
}

const decode = (segment: string): string | null => {
  try {
    return decodeURIComponent(segment);
  } catch {
    return null;
  }
};

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const m = PATH.exec(req.url ?? '');
  const app = m && decode(m[1]!);
  const key = m?.[2] === undefined ? undefined : decode(m[2]);
  if (req.method !== 'POST' || app === null || key === null) {
    res.writeHead(404, { 'content-type': JSON_TYPE }).end(
      JSON.stringify({
        error: {
          code: 'ROUTE_NOT_FOUND',
          message: `no route ${req.method} ${req.url}; this port serves OFREP only: POST /api/v1/apps/{app}/ofrep/v1/evaluate/flags[/{key}]`,
        },
      }),
    );
    return;
  }
  const refused = await admit(req, app);
  if (refused) {
    send(res, refusal(refused, key));
    req.resume();
    return;
  }
  const body = await readBody(req);
  if (body === null) {
    send(res, ofrepErrorReply(413, `the request body is over ${BODY_LIMIT} bytes`, key));
    return;
  }
  const now = answers.get(app);
  if (!now) {
    const known = [...answers.keys()].join(', ') || 'none';
    send(res, refusal(new RewindError('APP_NOT_FOUND', `no app named "${app}"; known apps: ${known}`), key));
    return;
  }
  const ifNoneMatch = req.headers['if-none-match'];
  send(res, key === undefined ? now.bulk(body, ifNoneMatch) : now.single(key, body));
}

const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
  handle(req, res).catch((err: unknown) => {
    if (!res.headersSent) send(res, ofrepErrorReply(500, (err as Error).message));
    else res.destroy();
  });
};

const server = data.https
  ? createHttpsServer({ cert: Buffer.from(data.https.cert), key: Buffer.from(data.https.key) }, onRequest)
  : createHttpServer(onRequest);
// As Fastify's default: OFREP clients poll over long-lived keep-alive connections.
server.keepAliveTimeout = 72_000;
server.once('error', (err: NodeJS.ErrnoException) => {
  parent.postMessage({
    op: 'listen-failed',
    code: err.code ?? 'ERROR',
    message: err.message,
  } satisfies FromOfrepWorker);
});
server.listen(data.port, data.host, () => {
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : data.port;
  hostAllowed = hostMatcher({ listen: { host: data.host, port }, allowedHosts: data.allowedHosts });
  parent.postMessage({ op: 'listening', port } satisfies FromOfrepWorker);
});
