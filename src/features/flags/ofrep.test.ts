// The OFREP functions behind a real HTTP server on a real socket, read by the published OpenFeature
// OFREP provider (single evaluations) and by plain fetch (bulk evaluation, ETag and 304).

import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { OFREPProvider } from '@openfeature/ofrep-provider';
import { OpenFeature } from '@openfeature/server-sdk';
import { createFlagEvaluator, type FlagEvaluator } from './flag-evaluator.ts';
import { type FlagSet, parseFlagSet, setFlagState } from './flag-set.ts';
import { type OfrepBulkBody, type OfrepFailure, ofrepEvaluateBulk, ofrepEvaluateSingle } from './ofrep.ts';

const bool = { on: true, off: false };
const v1 = parseFlagSet({
  metadata: { app: 'shop' },
  flags: {
    'new-checkout': {
      state: 'ENABLED',
      variants: bool,
      defaultVariant: 'off',
      targeting: {
        fractional: [
          ['on', 50],
          ['off', 50],
        ],
      },
    },
    'banner-color': {
      state: 'ENABLED',
      variants: { red: '#f00', blue: '#00f' },
      defaultVariant: 'red',
      targeting: { if: [{ '==': [{ var: 'plan' }, 'pro'] }, 'blue'] },
      metadata: { owner: 'growth' },
    },
    'max-items': { state: 'ENABLED', variants: { few: 10, many: 100 }, defaultVariant: 'many' },
    theme: {
      state: 'ENABLED',
      variants: { dark: { bg: '#000', accents: ['#f0f'] }, light: { bg: '#fff' } },
      defaultVariant: 'dark',
    },
    payments: { state: 'DISABLED', variants: bool, defaultVariant: 'on' },
  },
});

let current: { version: number; evaluator: FlagEvaluator } = {
  version: 1,
  evaluator: createFlagEvaluator(v1),
};
const publish = (set: FlagSet) => {
  current = { version: current.version + 1, evaluator: createFlagEvaluator(set) };
};

const BULK = '/ofrep/v1/evaluate/flags';

async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const body = Buffer.concat(chunks).toString('utf8');
  const path = new URL(req.url ?? '/', 'http://x').pathname;
  let reply: { status: number; body?: unknown; etag?: string } = {
    status: 404,
    body: { errorDetails: 'no route' },
  };
  if (req.method === 'POST' && path === BULK) {
    const ifNoneMatch = req.headers['if-none-match'];
    reply = ofrepEvaluateBulk(current.evaluator, current.version, body, ifNoneMatch);
  } else if (req.method === 'POST' && path.startsWith(`${BULK}/`)) {
    reply = ofrepEvaluateSingle(current.evaluator, decodeURIComponent(path.slice(BULK.length + 1)), body);
  }
  if (reply.etag) res.setHeader('ETag', reply.etag);
  if (reply.body === undefined) {
    res.writeHead(reply.status).end();
    return;
  }
  res.writeHead(reply.status, { 'Content-Type': 'application/json' }).end(JSON.stringify(reply.body));
}

const server = createServer((req, res) => {
  route(req, res).catch((err: unknown) => res.writeHead(500).end(String(err)));
});
let baseUrl = '';
const client = () => OpenFeature.getClient('ofrep-test');

before(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  await OpenFeature.setProviderAndWait('ofrep-test', new OFREPProvider({ baseUrl }));
});

after(async () => {
  await OpenFeature.close();
  await new Promise((resolve) => server.close(resolve));
});

const failureOf = async (res: Response) => (await res.json()) as OfrepFailure;
const flagsOf = async (res: Response) => (await res.json()) as OfrepBulkBody;

const bulk = (context: unknown, ifNoneMatch?: string) =>
  fetch(`${baseUrl}${BULK}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...(ifNoneMatch ? { 'If-None-Match': ifNoneMatch } : {}) },
    body: JSON.stringify({ context }),
  });

test('the OFREP provider reads boolean, string, number and object flags with reason and variant', async () => {
  const user = { targetingKey: 'user-42' };
  const checkout = await client().getBooleanDetails('new-checkout', false, user);
  assert.equal(checkout.reason, 'TARGETING_MATCH');
  assert.equal(checkout.value, checkout.variant === 'on');
  assert.equal(
    await client().getBooleanValue('new-checkout', !checkout.value, user),
    checkout.value,
    'sticky per user',
  );

  const pro = await client().getStringDetails('banner-color', '#ccc', { ...user, plan: 'pro' });
  assert.deepEqual(
    { value: pro.value, variant: pro.variant, reason: pro.reason, errorCode: pro.errorCode },
    { value: '#00f', variant: 'blue', reason: 'TARGETING_MATCH', errorCode: undefined },
  );
  assert.deepEqual(pro.flagMetadata, { app: 'shop', owner: 'growth' });
  const free = await client().getStringDetails('banner-color', '#ccc', { plan: 'free' });
  assert.deepEqual([free.value, free.variant, free.reason], ['#f00', 'red', 'DEFAULT']);

  const items = await client().getNumberDetails('max-items', 1);
  assert.deepEqual([items.value, items.variant, items.reason], [100, 'many', 'STATIC']);
  assert.deepEqual(await client().getObjectValue('theme', {}), { bg: '#000', accents: ['#f0f'] });
});

test('an unknown flag gives the code default with FLAG_NOT_FOUND', async () => {
  const details = await client().getBooleanDetails('no-such-flag', true);
  assert.deepEqual([details.value, details.reason, details.errorCode], [true, 'ERROR', 'FLAG_NOT_FOUND']);
});

test('a disabled flag is 200 with reason DISABLED and no value (OFREP codeDefaultFlag), as flagd answers', async () => {
  const res = await fetch(`${baseUrl}${BULK}/payments`, { method: 'POST', body: '{"context":{}}' });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { key: 'payments', reason: 'DISABLED', metadata: { app: 'shop' } });
  // The published provider (0.1.3, ofrep-core 0.1.4) predates ADR-0006: the app still gets its code
  // default, with reason ERROR. docs/flags.md says so.
  const details = await client().getBooleanDetails('payments', false);
  assert.deepEqual([details.value, details.reason], [false, 'ERROR']);
});

test('a split by targetingKey without one is TARGETING_KEY_MISSING; a type mismatch is caught by the client', async () => {
  const noKey = await client().getBooleanDetails('new-checkout', true, {});
  assert.deepEqual([noKey.value, noKey.errorCode], [true, 'TARGETING_KEY_MISSING']);
  const mismatch = await client().getNumberDetails('banner-color', 7);
  assert.deepEqual([mismatch.value, mismatch.errorCode], [7, 'TYPE_MISMATCH']);
});

test('a bad request body is PARSE_ERROR, a context that is not an object INVALID_CONTEXT', async () => {
  const post = (body: string) => fetch(`${baseUrl}${BULK}/max-items`, { method: 'POST', body });
  const notJson = await post('{"context":');
  assert.equal(notJson.status, 400);
  const parseError = await failureOf(notJson);
  assert.deepEqual([parseError.key, parseError.errorCode], ['max-items', 'PARSE_ERROR']);
  assert.match(parseError.errorDetails, /not JSON/);
  const badContext = await post('{"context": ["user-1"]}');
  assert.equal(badContext.status, 400);
  assert.equal((await failureOf(badContext)).errorCode, 'INVALID_CONTEXT');
  // A JSON string holding a request is not parsed a second time.
  const encoded = await post(JSON.stringify('{"context":{}}'));
  assert.equal(encoded.status, 400);
  const notObject = await failureOf(encoded);
  assert.deepEqual([notObject.key, notObject.errorCode], ['max-items', 'INVALID_CONTEXT']);
  assert.match(notObject.errorDetails, /is a JSON string, not a JSON object; .* not encoded as a string/);
  // Keys that would reach a prototype through a later Object.assign are refused, as Fastify refuses them.
  for (const poisoned of [
    '{"context":{"__proto__":{"plan":"pro"}}}',
    '{"context":{"a":{"constructor":{"prototype":{}}}}}',
  ]) {
    const res = await post(poisoned);
    assert.equal(res.status, 400, poisoned);
    const failure = await failureOf(res);
    assert.equal(failure.errorCode, 'INVALID_CONTEXT');
    assert.match(failure.errorDetails, /could reach an object's prototype/);
  }
  const harmless = await post('{"context":{"constructor":"ok","note":"__proto__"}}');
  assert.equal(harmless.status, 200, 'the words alone are fine');
  const badBulk = await bulk('user-1');
  assert.equal(badBulk.status, 400);
  assert.equal((await failureOf(badBulk)).errorCode, 'INVALID_CONTEXT');
});

test('bulk: every flag with ETag, disabled ones as codeDefaultFlag; If-None-Match gets 304; another context gets another ETag', async () => {
  const first = await bulk({ targetingKey: 'user-42', plan: 'pro' });
  assert.equal(first.status, 200);
  const etag = first.headers.get('etag') ?? '';
  assert.match(etag, /^"1-[\w-]{16}"$/);
  const body = await flagsOf(first);
  assert.deepEqual(body.metadata, { app: 'shop' });
  assert.deepEqual(
    body.flags.map((f) => f.key),
    ['new-checkout', 'banner-color', 'max-items', 'theme', 'payments'],
    'every flag, the disabled one too',
  );
  assert.deepEqual(body.flags[4], { key: 'payments', reason: 'DISABLED', metadata: { app: 'shop' } });
  assert.deepEqual(body.flags[1], {
    key: 'banner-color',
    value: '#00f',
    reason: 'TARGETING_MATCH',
    variant: 'blue',
    metadata: { app: 'shop', owner: 'growth' },
  });

  const same = await bulk({ plan: 'pro', targetingKey: 'user-42' }, etag);
  assert.equal(same.status, 304, 'same context in another key order');
  assert.equal(same.headers.get('etag'), etag);
  assert.equal(await same.text(), '');
  assert.equal((await bulk({ targetingKey: 'user-42', plan: 'pro' }, `W/${etag}, "other"`)).status, 304);

  const other = await bulk({ targetingKey: 'user-43', plan: 'pro' }, etag);
  assert.equal(other.status, 200);
  assert.notEqual(other.headers.get('etag'), etag);

  const noKey = await flagsOf(await bulk({}));
  assert.deepEqual(noKey.flags[0], {
    key: 'new-checkout',
    errorCode: 'TARGETING_KEY_MISSING',
    errorDetails: 'flag "new-checkout" splits traffic by targetingKey; send one in the context',
  });
});

test('a new flag-set version changes the bulk ETag and what the client reads', async () => {
  const context = { targetingKey: 'user-42' };
  const prior = await bulk(context);
  const etag = prior.headers.get('etag') ?? '';
  assert.equal((await bulk(context, etag)).status, 304);

  publish(setFlagState(v1, 'payments', 'ENABLED'));
  const afterChange = await bulk(context, etag);
  assert.equal(afterChange.status, 200);
  const newEtag = afterChange.headers.get('etag') ?? '';
  assert.notEqual(newEtag, etag);
  assert.match(newEtag, /^"2-/);
  assert.ok((await flagsOf(afterChange)).flags.some((f) => f.key === 'payments'));
  assert.equal(await client().getBooleanValue('payments', false), true);

  publish(v1);
  assert.notEqual((await bulk(context)).headers.get('etag'), newEtag, 'same content, new version: new ETag');
});

test('pure functions: no body is an empty context; a rule on $flagd.timestamp puts the results in the ETag', () => {
  const evaluator = createFlagEvaluator(
    parseFlagSet({
      flags: {
        launched: {
          state: 'ENABLED',
          variants: bool,
          defaultVariant: 'off',
          targeting: { if: [{ '>': [{ var: '$flagd.timestamp' }, 0] }, 'on', 'off'] },
        },
      },
    }),
  );
  const single = ofrepEvaluateSingle(evaluator, 'launched', undefined);
  assert.deepEqual(single, {
    status: 200,
    body: { key: 'launched', value: true, reason: 'TARGETING_MATCH', variant: 'on', metadata: {} },
  });
  const res = ofrepEvaluateBulk(evaluator, 7, { context: {} });
  assert.equal(res.status, 200);
  assert.match(res.etag, /^"7-[\w-]{16}-[\w-]{16}"$/);
  assert.equal(ofrepEvaluateBulk(evaluator, 7, {}, res.etag).status, 304);
  assert.equal(ofrepEvaluateBulk(evaluator, 7, 'null').status, 400);
});
