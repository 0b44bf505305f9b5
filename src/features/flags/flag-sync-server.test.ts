// The flagd sync server over a real socket, with a real gRPC client built from the same proto and a
// FlagService on a real (SQLite) store: the selector picks the app, `auth: token` wants the app's
// OFREP token or an API token that reaches the app, SyncFlags pushes the set on connect and on every
// change, FetchAllFlags and GetMetadata answer once.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { FlagdProvider } from '@openfeature/flagd-provider';
import { OpenFeature } from '@openfeature/server-sdk';
import { selfSignedCert } from '../../../test/support/self-signed.ts';
import { openStore } from '../../store/open-store.ts';
import type { Store } from '../../store/types.ts';
import { OfrepTokens } from '../auth/ofrep-tokens.ts';
import { TokenService } from '../auth/token-service.ts';
import { FlagService } from './flag-service.ts';
import { bearerAuthorizer, createFlagSyncServer, type FlagSyncServer } from './flag-sync-server.ts';

type Unary = (
  req: object,
  md: grpc.Metadata,
  cb: (err: grpc.ServiceError | null, res: Record<string, unknown>) => void,
) => void;
interface SyncClient extends grpc.Client {
  SyncFlags(req: object, md: grpc.Metadata): grpc.ClientReadableStream<{ flagConfiguration: string }>;
  FetchAllFlags: Unary;
  GetMetadata: Unary;
}

let dir: string;
let store: Store;
let flags: FlagService;
let server: FlagSyncServer;
let client: SyncClient;
const ofrep = new OfrepTokens(Buffer.alloc(32, 7));
let tokens: TokenService;

const set = (variant: string) => ({
  flags: { checkout: { state: 'ENABLED', variants: { a: 'a', b: 'b' }, defaultVariant: variant } },
});
const meta = (entries: Record<string, string>) => {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(entries)) md.set(k, v);
  return md;
};
const fetchAll = (md: grpc.Metadata, req: object = {}) =>
  new Promise<{ err: grpc.ServiceError | null; res: Record<string, unknown> }>((resolve) =>
    client.FetchAllFlags(req, md, (err, res) => resolve({ err, res })),
  );

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rewind-sync-'));
  store = await openStore({ dataDir: join(dir, 'data') });
  for (const app of ['shop', 'blog']) await store.apps.upsert(app, {});
  flags = new FlagService({ store });
  tokens = new TokenService({ store });
  await flags.replace('shop', set('a'), { author: 'test' });
  server = createFlagSyncServer({
    flags,
    apps: () => ['shop', 'blog'],
    authorize: bearerAuthorizer({
      ofrepMatches: (app, token) => ofrep.matches(app, token),
      check: (token) => tokens.check(token),
    }),
  });
  const port = await server.listen('127.0.0.1', 0);
  const definition = grpc.loadPackageDefinition(
    protoLoader.loadSync(join(import.meta.dirname, 'proto', 'flagd-sync-v1.proto'), { defaults: true }),
  );
  // biome-ignore lint/suspicious/noExplicitAny: a client class generated from the proto at run time
  const Ctor = (definition as any).flagd.sync.v1.FlagSyncService as new (
    address: string,
    credentials: grpc.ChannelCredentials,
  ) => SyncClient;
  client = new Ctor(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
});
after(async () => {
  client?.close();
  await server?.close();
  await store?.close();
  await rm(dir, { recursive: true, force: true });
});

test('the selector must name an app of the server', async () => {
  const bearer = { authorization: `Bearer ${ofrep.tokenFor('shop')}` };
  const none = await fetchAll(meta(bearer));
  assert.equal(none.err?.code, grpc.status.INVALID_ARGUMENT);
  assert.match(
    none.err?.details ?? '',
    /no selector: set the flagd provider's selector .* one of: shop, blog/,
  );
  const unknown = await fetchAll(meta({ ...bearer, 'flagd-selector': 'shpo' }));
  assert.equal(unknown.err?.code, grpc.status.NOT_FOUND);
  assert.match(
    unknown.err?.details ?? '',
    /selector "shpo" is not an app of this server; .* one of: shop, blog/,
  );
});

test('auth: token wants the app OFREP token or an API token that reaches the app', async () => {
  const noToken = await fetchAll(meta({ 'flagd-selector': 'shop' }));
  assert.equal(noToken.err?.code, grpc.status.UNAUTHENTICATED);
  assert.match(noToken.err?.details ?? '', /authorization: Bearer <token>/);
  const wrongApp = await fetchAll(
    meta({ 'flagd-selector': 'shop', authorization: `Bearer ${ofrep.tokenFor('blog')}` }),
  );
  assert.equal(wrongApp.err?.code, grpc.status.UNAUTHENTICATED, "blog's OFREP token is not a token of shop");
  const blogViewer = await tokens.create({ name: 'blog-viewer', role: 'viewer', app: 'blog' });
  const scoped = await fetchAll(
    meta({ 'flagd-selector': 'shop', authorization: `Bearer ${blogViewer.token}` }),
  );
  assert.equal(scoped.err?.code, grpc.status.PERMISSION_DENIED);
  assert.match(
    scoped.err?.details ?? '',
    /token blog-viewer is scoped to app blog; it cannot read the flags of shop/,
  );
  const viewer = await tokens.create({ name: 'viewer', role: 'viewer' });
  // The deprecated request field is still read when the header is absent.
  const ok = await fetchAll(meta({ authorization: `Bearer ${viewer.token}` }), { selector: 'shop' });
  assert.equal(ok.err, null);
  assert.deepEqual(JSON.parse(String(ok.res.flagConfiguration)), set('a'));
  const md = await new Promise<{ err: grpc.ServiceError | null; res: Record<string, unknown> }>((resolve) =>
    client.GetMetadata({}, meta({}), (err, res) => resolve({ err, res })),
  );
  assert.equal(md.err, null);
  assert.deepEqual(md.res.metadata, { fields: {} });
});

test('SyncFlags ends a stream it cannot serve with the status and the reason', async () => {
  const fail = (md: grpc.Metadata) =>
    new Promise<grpc.ServiceError>((resolve) => {
      const stream = client.SyncFlags({}, md);
      stream.on('data', () => resolve(new Error('data on a refused stream') as grpc.ServiceError));
      stream.on('error', (err: grpc.ServiceError) => resolve(err));
    });
  const unknown = await fail(meta({ 'flagd-selector': 'nope' }));
  assert.equal(unknown.code, grpc.status.NOT_FOUND);
  assert.match(unknown.details, /selector "nope" is not an app of this server/);
  const anonymous = await fail(meta({ 'flagd-selector': 'shop' }));
  assert.equal(anonymous.code, grpc.status.UNAUTHENTICATED);
  assert.equal(server.streams(), 0);
});

test('SyncFlags pushes the set in force on connect and on every change, until the client leaves', async () => {
  const stream = client.SyncFlags(
    {},
    meta({ 'flagd-selector': 'shop', authorization: `Bearer ${ofrep.tokenFor('shop')}` }),
  );
  const received: unknown[] = [];
  let wake: () => void = () => {};
  stream.on('data', (d: { flagConfiguration: string }) => {
    received.push(JSON.parse(d.flagConfiguration));
    wake();
  });
  stream.on('error', () => {});
  const next = async (n: number) => {
    while (received.length < n) await new Promise<void>((r) => (wake = r));
    return received[n - 1];
  };
  assert.deepEqual(await next(1), set('a'));
  assert.equal(server.streams(), 1);
  await flags.replace('shop', set('b'), { author: 'test' });
  assert.deepEqual(await next(2), set('b'));
  await flags.setState('shop', 'checkout', 'DISABLED', { author: 'test' });
  const disabled = (await next(3)) as { flags: { checkout: { state: string } } };
  assert.equal(disabled.flags.checkout.state, 'DISABLED');
  await flags.replace('blog', set('a'), { author: 'test' });
  stream.cancel();
  await new Promise<void>((resolve) => {
    const check = () => (server.streams() === 0 ? resolve() : setTimeout(check, 10));
    check();
  });
  assert.equal(received.length, 3, "blog's change is not pushed on shop's stream");
});

test('with TLS credentials the published flagd provider connects with tls: true and certPath', async () => {
  selfSignedCert(dir);
  const tls = createFlagSyncServer({ flags, apps: () => ['shop'], authorize: async () => null });
  const port = await tls.listen('127.0.0.1', 0, {
    cert: readFileSync(join(dir, 'cert.pem')),
    key: readFileSync(join(dir, 'key.pem')),
  });

  try {
    const provider = new FlagdProvider({
      resolverType: 'in-process',
      host: '127.0.0.1',
      port,
      selector: 'shop',
      tls: true,
      certPath: join(dir, 'cert.pem'),
      deadlineMs: 10_000,
    });
    await OpenFeature.setProviderAndWait('tls', provider);
    const answer = await OpenFeature.getClient('tls').getStringDetails('checkout', 'none', {});
    assert.equal(answer.reason, 'DISABLED', 'the set in force: checkout was disabled above');
    assert.equal(answer.value, 'none');
  } finally {
    await OpenFeature.close();
    await tls.close();
  }
});
