// Story: an app's OpenFeature client reads flags from Rewind's OFREP worker, on its own port and
// thread, and gets exactly what the API port answers: same paths, same tokens, same bodies. A flag
// changed through the API is served there by the time the API call returns, and /healthz says the
// worker serves.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type Harness, startRewind } from '../support/rewind-harness.ts';

let h: Harness;

const flagSet = {
  metadata: { team: 'shop' },
  flags: {
    checkout: { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'on' },
    split: {
      state: 'ENABLED',
      variants: { a: 'a', b: 'b' },
      defaultVariant: 'a',
      targeting: {
        fractional: [
          ['a', 50],
          ['b', 50],
        ],
      },
    },
    payments: { state: 'DISABLED', variants: { on: true, off: false }, defaultVariant: 'on' },
  },
};

before(async () => {
  h = await startRewind();
  const r = await h.fetch(`${h.apiUrl}/api/v1/apps/shop/flags`, {
    method: 'PUT',
    body: JSON.stringify({ document: flagSet }),
  });
  assert.equal(r.status, 200, await r.text());
});
after(() => h?.close());

const post = (base: string, path: string, body: string, headers: Record<string, string> = {}) =>
  fetch(`${base}/api/v1/apps/${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${h.token}`, 'content-type': 'application/json', ...headers },
    body,
  });

test('the worker port answers as the API port does: values, errors, ETags, refusals', async () => {
  const cases: [string, string, Record<string, string>?][] = [
    ['shop/ofrep/v1/evaluate/flags/checkout', '{"context":{}}'],
    ['shop/ofrep/v1/evaluate/flags/split', '{"context":{"targetingKey":"user-7"}}'],
    ['shop/ofrep/v1/evaluate/flags/split', '{"context":{}}'],
    ['shop/ofrep/v1/evaluate/flags/payments', '{}'],
    ['shop/ofrep/v1/evaluate/flags/nope', '{}'],
    ['shop/ofrep/v1/evaluate/flags/checkout', '{"context":["x"]}'],
    ['shop/ofrep/v1/evaluate/flags/checkout', '{"context":'],
    ['shop/ofrep/v1/evaluate/flags/checkout', JSON.stringify(JSON.stringify({ context: {} }))],
    ['nope/ofrep/v1/evaluate/flags/checkout', '{}'],
    ['shop/ofrep/v1/evaluate/flags', '{"context":{"targetingKey":"user-7"}}'],
    ['shop/ofrep/v1/evaluate/flags', '{"context":{}}'],
    ['nope/ofrep/v1/evaluate/flags', '{}'],
    ['shop/ofrep/v1/evaluate/flags', '{}', { authorization: 'Bearer rwf_not-a-token' }],
    ['shop/ofrep/v1/evaluate/flags', '{}', { 'content-type': 'text/plain' }],
  ];
  for (const [path, body, headers] of cases) {
    const [api, worker] = await Promise.all([
      post(h.apiUrl, path, body, headers),
      post(h.ofrepUrl, path, body, headers),
    ]);
    const what = `${path} ${body} ${JSON.stringify(headers ?? {})}`;
    assert.equal(worker.status, api.status, what);
    assert.equal(worker.headers.get('etag'), api.headers.get('etag'), what);
    assert.deepEqual(await worker.json(), await api.json(), what);
  }
  const first = await post(h.ofrepUrl, 'shop/ofrep/v1/evaluate/flags', '{"context":{}}');
  const etag = first.headers.get('etag') ?? '';
  for (const base of [h.apiUrl, h.ofrepUrl]) {
    const again = await post(base, 'shop/ofrep/v1/evaluate/flags', '{"context":{}}', {
      'if-none-match': etag,
    });
    assert.equal(again.status, 304, base);
  }
});

test('a flag changed through the API is served by the worker when the call returns', async () => {
  for (const action of ['disable', 'enable', 'disable', 'enable']) {
    const r = await h.fetch(`${h.apiUrl}/api/v1/apps/shop/flags/checkout/${action}`, {
      method: 'POST',
      body: '{}',
    });
    assert.equal(r.status, 200, await r.text());
    const read = (await (await post(h.ofrepUrl, 'shop/ofrep/v1/evaluate/flags/checkout', '{}')).json()) as {
      reason: string;
    };
    assert.equal(read.reason, action === 'disable' ? 'DISABLED' : 'STATIC', action);
  }
});

test('/healthz reports the OFREP worker', async () => {
  const health = (await (await fetch(`${h.apiUrl}/healthz`)).json()) as {
    checks: { ofrep?: { ok: boolean; restarts: number } };
  };
  assert.deepEqual(health.checks.ofrep, { ok: true, restarts: 0 });
});
