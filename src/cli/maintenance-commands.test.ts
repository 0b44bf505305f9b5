import assert from 'node:assert/strict';
import { test } from 'node:test';
import { retryAfterSeconds } from './maintenance-commands.ts';

test('--retry-after: durations and bare seconds to whole seconds, from 1 s to a day; the rest named', () => {
  const table: [string, number][] = [
    ['60', 60],
    ['60s', 60],
    ['90s', 90],
    ['5m', 300],
    ['1h', 3600],
    ['1m30s', 90],
    ['24h', 86_400],
  ];
  for (const [text, seconds] of table) assert.equal(retryAfterSeconds(text), seconds, text);
  for (const bad of ['0', '0s', '500ms', '1.5s', '25h', 'soon', '-5', ''])
    assert.throws(
      () => retryAfterSeconds(bad),
      new RegExp(`--retry-after takes whole seconds from 1s to 24h, such as 60s, 5m or 1h; got "${bad}"`),
      bad,
    );
});
