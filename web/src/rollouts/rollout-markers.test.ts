import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RewindEvent } from '../api/types.ts';
import { markerOf, markersOf } from './rollout-markers.ts';

const e = (type: string, message: string, data: unknown = null): RewindEvent => ({
  id: 1,
  app: 'shop',
  rolloutId: 'r',
  at: 5,
  type,
  message,
  data,
});

test('events become markers by kind', () => {
  const cases: [RewindEvent, string | null][] = [
    [e('traffic.weight', '30% of traffic on revision 2', { weight: 30 }), 'step 30%'],
    [e('step.started', 'paused until `rewind promote shop`'), 'pause pause'],
    [e('step.started', 'baking revision 3 for 200ms'), 'step bake'],
    [e('step.started', 'starting 1 instance(s) of revision 2 (v2)'), null],
    [e('step.completed', 'setWeight done'), null],
    [e('rollout.paused', 'paused by hand'), 'pause paused'],
    [e('rollout.promoted', 'promoted to 100% by hand'), 'promote promoted'],
    [e('analysis.breach', 'P1: latency'), 'breach breach'],
    [e('analysis.decision', 'rolling back: canary judged worse'), 'decision roll back'],
    [e('analysis.decision', 'paused for a person to decide'), 'decision pause'],
    [e('rollout.aborted', 'aborted at pause: bench'), 'decision aborted'],
    [e('traffic.switched-back', 'all traffic back on revision 1'), 'rollback switched back'],
    [e('rollout.rolledback', 'rolled back to revision 1'), 'rollback rolled back'],
  ];
  for (const [event, marker] of cases) {
    const m = markerOf(event);
    assert.equal(m && `${m.kind} ${m.label}`, marker, event.message);
  }
  assert.equal(markersOf(cases.map(([event]) => event)).length, 11);
});
