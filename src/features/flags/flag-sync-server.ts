// flagd's sync protocol (flagd.sync.v1 over gRPC) for OpenFeature's flagd providers in in-process
// mode: a provider opens SyncFlags with its selector (the app's name) and gets the app's flag set in
// force at once and again on every change, kill switches and changes made through another
// controller on the same store included; it then evaluates locally with flagd's own engine.
// FetchAllFlags answers the set once; GetMetadata (deprecated by flagd) answers empty metadata.

import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { FlagService, FlagsInForce } from './flag-service.ts';

const PROTO = join(import.meta.dirname, 'proto', 'flagd-sync-v1.proto');
/** The metadata header flagd's providers send their selector in (the request field is deprecated). */
export const SELECTOR_HEADER = 'flagd-selector';

export interface FlagSyncDeps {
  readonly flags: FlagService;
  /** The apps this server controls, for the selector's check and its error. */
  readonly apps: () => readonly string[];
  /**
   * Whether the call's metadata may read `app`'s flag set: null when it may, else the reason
   * (UNAUTHENTICATED when no credentials, PERMISSION_DENIED when they do not reach the app).
   */
  readonly authorize: (
    metadata: grpc.Metadata,
    app: string,
  ) => Promise<{ code: grpc.status; message: string } | null>;
}

export interface FlagSyncServer {
  /** Binds host:port (0 picks a free port), with TLS when given PEM cert and key; resolves to the port. */
  listen(host: string, port: number, tls?: { readonly cert: Buffer; readonly key: Buffer }): Promise<number>;
  /** Ends every stream and stops listening. */
  close(): Promise<void>;
  /** Open SyncFlags streams (for tests and status). */
  streams(): number;
}

interface SelectorRequest {
  readonly selector?: string;
}

type Failure = { code: grpc.status; message: string };

let definition: grpc.GrpcObject | undefined;
function service(): grpc.ServiceDefinition {
  definition ??= grpc.loadPackageDefinition(
    protoLoader.loadSync(PROTO, { keepCase: false, defaults: true, includeDirs: [] }),
  );
  const sync = (definition.flagd as grpc.GrpcObject).sync as grpc.GrpcObject;
  return ((sync.v1 as grpc.GrpcObject).FlagSyncService as grpc.ServiceClientConstructor).service;
}

/** flagd's flag-definition JSON of the set in force. */
const configurationOf = (now: FlagsInForce) => JSON.stringify(now.set);

export function createFlagSyncServer(deps: FlagSyncDeps): FlagSyncServer {
  const server = new grpc.Server();
  const open = new Set<grpc.ServerWritableStream<SelectorRequest, unknown>>();

  /** The app the call selects, checked and authorised; a Failure to answer with otherwise. */
  const select = async (metadata: grpc.Metadata, request: SelectorRequest): Promise<string | Failure> => {
    const header = metadata.get(SELECTOR_HEADER)[0];
    const selector = (typeof header === 'string' ? header : (request.selector ?? '')).trim();
    const known = deps.apps();
    if (!selector)
      return {
        code: grpc.status.INVALID_ARGUMENT,
        message: `no selector: set the flagd provider's selector (FLAGD_SOURCE_SELECTOR) to the app's name, one of: ${known.join(', ') || 'none'}`,
      };
    if (!known.includes(selector))
      return {
        code: grpc.status.NOT_FOUND,
        message: `selector "${selector.slice(0, 100)}" is not an app of this server; use the app's name, one of: ${known.join(', ') || 'none'}`,
      };
    return (await deps.authorize(metadata, selector)) ?? selector;
  };

  const syncFlags = (call: grpc.ServerWritableStream<SelectorRequest, unknown>) => {
    let unsubscribe: (() => void) | null = null;
    let ended = false;
    const end = () => {
      ended = true;
      unsubscribe?.();
      open.delete(call);
    };
    call.on('cancelled', end);
    call.on('close', end);
    call.on('error', end);
    void (async () => {
      const app = await select(call.metadata, call.request);
      if (typeof app !== 'string') {
        // grpc-js turns an 'error' on a server stream into the call's status and ends it.
        call.emit('error', { code: app.code, details: app.message });
        return;
      }
      // Subscribe before reading the set in force, so that no change falls between the two.
      let last = -1;
      const push = (now: FlagsInForce) => {
        if (ended || now.version <= last) return;
        last = now.version;
        call.write({ flagConfiguration: configurationOf(now) });
      };
      unsubscribe = deps.flags.onInForce((changed, now) => {
        if (changed === app) push(now);
      });
      if (ended) return end();
      open.add(call);
      push(await deps.flags.current(app));
    })().catch((err: Error) => {
      end();
      call.emit('error', { code: grpc.status.INTERNAL, details: err.message });
    });
  };

  const fetchAllFlags = (
    call: grpc.ServerUnaryCall<SelectorRequest, unknown>,
    callback: grpc.sendUnaryData<unknown>,
  ) => {
    void (async () => {
      const app = await select(call.metadata, call.request);
      if (typeof app !== 'string') return callback({ code: app.code, details: app.message });
      callback(null, { flagConfiguration: configurationOf(await deps.flags.current(app)) });
    })().catch((err: Error) => callback({ code: grpc.status.INTERNAL, details: err.message }));
  };

  const getMetadata = (_call: unknown, callback: grpc.sendUnaryData<unknown>) =>
    callback(null, { metadata: { fields: {} } });

  server.addService(service(), {
    SyncFlags: syncFlags,
    FetchAllFlags: fetchAllFlags,
    GetMetadata: getMetadata,
  } as grpc.UntypedServiceImplementation);

  return {
    listen(host, port, tls) {
      const credentials = tls
        ? grpc.ServerCredentials.createSsl(null, [{ cert_chain: tls.cert, private_key: tls.key }], false)
        : grpc.ServerCredentials.createInsecure();
      const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
      return new Promise((resolve, reject) =>
        server.bindAsync(address, credentials, (err, bound) => (err ? reject(err) : resolve(bound))),
      );
    },
    close() {
      for (const call of open) call.end();
      open.clear();
      return new Promise((resolve) => {
        const force = setTimeout(() => server.forceShutdown(), 2000);
        force.unref();
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
    },
    streams: () => open.size,
  };
}

/**
 * `auth: token`: the call's `authorization: Bearer <token>` metadata must hold the app's OFREP token
 * or an API token (any role reads flags) that is not scoped to another app.
 */
export function bearerAuthorizer(deps: {
  readonly ofrepMatches: (app: string, token: string) => boolean;
  readonly check: (
    token: string,
  ) => Promise<
    { ok: true; principal: { name: string; app?: string | null } } | { ok: false; problem: string }
  >;
}): FlagSyncDeps['authorize'] {
  return async (metadata, app) => {
    const header = metadata.get('authorization')[0];
    const token = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1] : undefined;
    if (!token)
      return {
        code: grpc.status.UNAUTHENTICATED,
        message: `send the metadata "authorization: Bearer <token>" with the app's OFREP token (REWIND_OFREP_TOKEN of its instances) or an API token (rewind tokens create)`,
      };
    if (deps.ofrepMatches(app, token)) return null;
    const check = await deps.check(token);
    if (!check.ok)
      return { code: grpc.status.UNAUTHENTICATED, message: `${check.problem}; send a valid token` };
    const scoped = check.principal.app;
    if (scoped && scoped !== app)
      return {
        code: grpc.status.PERMISSION_DENIED,
        message: `token ${check.principal.name} is scoped to app ${scoped}; it cannot read the flags of ${app}`,
      };
    return null;
  };
}
