import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AppDetail, RewindEvent } from '../api/types.ts';
import { EMPTY_LIVE, rolloutEvents, withApps, withEvent, withMetrics, withSeries } from './live-state.ts';

const app = (judgment: { verdict: string; message: string } | null, evaluatedAt: number | null): AppDetail =>
  ({
    name: 'shop',
    analysis: { rolloutId: 'r-1', judgment, rules: [], evaluatedAt },
    watch: null,
  }) as unknown as AppDetail;

const event = (id: number, rolloutId: string | null = 'r-1'): RewindEvent => ({
  id,
  app: 'shop',
  rolloutId,
  at: id * 1000,
  type: 'step.started',
  message: `event ${id}`,
  data: null,
});

test('withApps keeps the apps and each change of a rollout judgment', () => {
  const steps: [ReturnType<typeof app>, string[]][] = [
    [app(null, null), []],
    [app({ verdict: 'Continue', message: 'a' }, 10), ['10 Continue']],
    [app({ verdict: 'Continue', message: 'a' }, 11), ['10 Continue']],
    [app({ verdict: 'Continue', message: 'b' }, 12), ['10 Continue', '12 Continue']],
    [app({ verdict: 'Worse', message: 'c' }, 13), ['10 Continue', '12 Continue', '13 Worse']],
    [app({ verdict: 'NotWorse', message: 'old' }, 5), ['10 Continue', '12 Continue', '13 Worse']],
  ];
  let state = EMPTY_LIVE;
  for (const [detail, marks] of steps) {
    state = withApps(state, [detail], 99);
    assert.equal(state.apps?.[0], detail);
    assert.deepEqual(
      (state.judgments['r-1'] ?? []).map((m) => `${m.at} ${m.verdict}`),
      marks,
    );
  }
});

test('withMetrics and withSeries merge seconds per app', () => {
  const rev = (requests: number) => [{ revision: 1, requests, errors: 0, p50: 1, p99: 2 }];
  let state = withMetrics(EMPTY_LIVE, { second: 12, apps: { shop: rev(3), cart: rev(4) } });
  state = withSeries(state, 'shop', [
    { second: 10, revisions: rev(1) },
    { second: 11, revisions: rev(2) },
  ]);
  state = withMetrics(state, { second: 13, apps: { shop: rev(5) } });
  assert.deepEqual(
    state.series.shop?.map((p) => p.second),
    [10, 11, 12, 13],
  );
  assert.deepEqual(
    state.series.cart?.map((p) => p.second),
    [12],
  );
});

test('withEvent keeps each event once', () => {
  const state = withEvent(withEvent(withEvent(EMPTY_LIVE, event(1)), event(2)), event(1));
  assert.deepEqual(
    state.events.map((e) => e.id),
    [1, 2],
  );
});

test("rolloutEvents joins the fetched list with the stream's events of that rollout", () => {
  const joined = rolloutEvents(
    [event(1), event(2)],
    [event(2), event(3), event(4, 'r-2'), event(5, null)],
    'r-1',
  );
  assert.deepEqual(
    joined.map((e) => e.id),
    [1, 2, 3],
  );
});
