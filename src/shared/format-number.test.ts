import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatNumber } from './format-number.ts';

test('numbers keep at most 3 decimals; tiny ones turn scientific instead of 0', () => {
  const cases: [number, string][] = [
    [0, '0'],
    [0.1 + 0.2, '0.3'],
    [1 - 0.99, '0.01'],
    [0.0456789, '0.046'],
    [2.34567, '2.35'],
    [12.345, '12.3'],
    [1234.5, '1235'],
    [-0.125, '-0.125'],
    [0.00002, '2.0e-5'],
    [Number.POSITIVE_INFINITY, 'Infinity'],
  ];
  for (const [x, text] of cases) assert.equal(formatNumber(x), text, String(x));
});
