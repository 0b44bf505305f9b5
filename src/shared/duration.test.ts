import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatDuration, parseDuration } from './duration.ts';

test('parseDuration reads the units of rewind.yaml', () => {
  const table: [string, number | undefined][] = [
    ['250ms', 250],
    ['30s', 30_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['1m30s', 90_000],
    ['1.5s', 1500],
    ['0', 0],
    ['', undefined],
    ['10', undefined],
    ['5 minutes', undefined],
    ['s', undefined],
    ['-1s', undefined],
  ];
  for (const [text, want] of table) assert.equal(parseDuration(text), want, text);
});

test('formatDuration is short and readable', () => {
  assert.equal(formatDuration(12), '12ms');
  assert.equal(formatDuration(1500), '1.5s');
  assert.equal(formatDuration(90_000), '1m30s');
  assert.equal(formatDuration(300_000), '5m');
  assert.equal(formatDuration(119_700), '2m');
  assert.equal(formatDuration(59_970), '1m');
  assert.equal(formatDuration(3_723_000), '1h2m3s');
});
