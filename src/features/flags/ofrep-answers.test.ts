import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { FlagEvaluator } from './flag-evaluator.ts';
import { parseFlagSet } from './flag-set.ts';
import { ofrepEvaluateBulk, ofrepEvaluateSingle } from './ofrep.ts';
import { OfrepAnswers } from './ofrep-answers.ts';

const bool = { on: true, off: false };
const set = parseFlagSet({
  metadata: { app: 'shop' },
  flags: {
    checkout: { state: 'ENABLED', variants: bool, defaultVariant: 'on' },
    color: {
      state: 'ENABLED',
      variants: { red: '#f00', blue: '#00f' },
      defaultVariant: 'red',
      targeting: { if: [{ '==': [{ var: 'plan' }, 'pro'] }, 'blue'] },
    },
  },
});

/** Makes every evaluation throw: what is answered afterwards came from the cache. */
const forbidEvaluation = (evaluator: FlagEvaluator) => {
  const e = evaluator as { evaluate: unknown; evaluateAll: unknown };
  e.evaluate = () => assert.fail('evaluated');
  e.evaluateAll = () => assert.fail('evaluated');
};

test('the answers are the pure functions, serialized', () => {
  const answers = new OfrepAnswers(3, set);
  const body = '{"context":{"plan":"pro"}}';
  const single = ofrepEvaluateSingle(answers.evaluator, 'color', body);
  assert.deepEqual(answers.single('color', body), { status: 200, body: JSON.stringify(single.body) });
  const bulk = ofrepEvaluateBulk(answers.evaluator, 3, body);
  assert.ok(bulk.status === 200);
  assert.deepEqual(answers.bulk(body, undefined), {
    status: 200,
    etag: bulk.etag,
    body: JSON.stringify(bulk.body),
  });
  assert.deepEqual(answers.bulk('{"context": 1}', undefined), {
    status: 400,
    body: JSON.stringify({
      errorCode: 'INVALID_CONTEXT',
      errorDetails: 'context must be a JSON object like {"targetingKey": "user-1"}',
    }),
  });
});

test('bulk: a body seen before is answered from the cache, 304 and 200 alike, without evaluating', () => {
  const answers = new OfrepAnswers(3, set);
  const body = '{"context":{"plan":"pro"}}';
  const first = answers.bulk(body, undefined);
  forbidEvaluation(answers.evaluator);
  const notModified = answers.bulk(body, first.etag);
  assert.deepEqual(notModified, { status: 304, etag: first.etag });
  assert.equal(answers.bulk(body, first.etag), notModified, 'the same reply object: nothing built');
  assert.equal(answers.bulk(body, `"other", W/${first.etag}`).status, 304);
  assert.equal(answers.bulk(body, '"3-other"'), first, 'another tag: the cached 200');
  assert.throws(() => answers.bulk('{"context":{"plan":"free"}}', first.etag), /evaluated/);
});

test('bulk: a 304 computed first is cached too; the 200 is added when asked', () => {
  const answers = new OfrepAnswers(1, set);
  const body = '{}';
  const etag = answers.bulk(body, undefined).etag!;
  const fresh = new OfrepAnswers(1, set);
  assert.deepEqual(fresh.bulk(body, etag), { status: 304, etag });
  forbidEvaluation(fresh.evaluator);
  assert.equal(fresh.bulk(body, etag).status, 304);
  assert.throws(() => fresh.bulk(body, undefined), /evaluated/, 'no 200 cached yet');
});

test('bulk: rules on $flagd.timestamp are never cached', () => {
  const timed = new OfrepAnswers(
    1,
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
  const first = timed.bulk('{}', undefined);
  assert.equal(first.status, 200);
  forbidEvaluation(timed.evaluator);
  assert.throws(() => timed.bulk('{}', first.etag), /evaluated/);
});
