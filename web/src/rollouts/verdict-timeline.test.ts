import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RewindEvent } from '../api/types.ts';
import { verdictTimeline } from './verdict-timeline.ts';

const e = (at: number, type: string, message: string): RewindEvent => ({
  id: at,
  app: 'shop',
  rolloutId: 'r',
  at,
  type,
  message,
  data: null,
});
const mark = (at: number, verdict: string) => ({ at, verdict, message: verdict });
const show = (segments: ReturnType<typeof verdictTimeline>) =>
  segments.map((s) => `${s.from}-${s.to} ${s.verdict}`);

test('no analysis, no strip', () => {
  assert.deepEqual(verdictTimeline({ since: null, end: 10, events: [], marks: [] }), []);
  assert.deepEqual(verdictTimeline({ since: 10, end: 10, events: [], marks: [] }), []);
});

test('a canary judged worse: evidence, then the decision to roll back', () => {
  const segments = verdictTimeline({
    since: 100,
    end: 400,
    events: [e(50, 'deploy.started', 'deploy'), e(300, 'analysis.decision', 'rolling back: worse')],
    marks: [],
  });
  assert.deepEqual(show(segments), ['100-300 Continue', '300-400 Worse']);
  assert.equal(segments[1]!.message, 'rolling back: worse');
});

test('judgments seen live join the events, and a repeated verdict carries its segment on', () => {
  const segments = verdictTimeline({
    since: 100,
    end: 1000,
    events: [e(600, 'analysis.breach', 'P2: latency'), e(700, 'analysis.decision', 'paused for a person')],
    marks: [mark(200, 'Continue'), mark(300, 'NotWorse'), mark(400, 'NotWorse'), mark(900, 'NotWorse')],
  });
  assert.deepEqual(show(segments), [
    '100-300 Continue',
    '300-600 NotWorse',
    '600-700 Breach',
    '700-900 Paused',
    '900-1000 NotWorse',
  ]);
});

test('a completed rollout ends in Completed; points outside the window are left out', () => {
  const segments = verdictTimeline({
    since: 100,
    end: 500,
    events: [e(450, 'rollout.completed', 'revision 3 is stable'), e(600, 'analysis.breach', 'later')],
    marks: [mark(50, 'Worse')],
  });
  assert.deepEqual(show(segments), ['100-450 Continue', '450-500 Completed']);
});
