import assert from 'node:assert/strict';
import { test } from 'node:test';
import { left, watchFrame } from './format.ts';

const AT = Date.UTC(2026, 11, 2, 17, 30, 5, 250);

test('watchFrame: on a terminal the screen is cleared before each frame', () => {
  assert.equal(watchFrame('shop  v1', { tty: true, at: AT }), '\x1b[2J\x1b[Hshop  v1');
});

test('watchFrame: piped, no control codes, a time line between frames', () => {
  const frame = watchFrame('shop  v1', { tty: false, at: AT });
  assert.equal(frame, '--- 17:30:05.250\nshop  v1');
  assert.ok(!frame.includes('\x1b'), 'no escape character');
});

test('left: the time left of a watch, in the largest units that read well', () => {
  for (const [ms, want] of [
    [-5000, '0s left'],
    [400, '1s left'],
    [59_000, '59s left'],
    [125_000, '2m 5s left'],
    [3_725_000, '1h 2m left'],
  ] as const)
    assert.equal(left(AT + ms, AT), want, String(ms));
});
