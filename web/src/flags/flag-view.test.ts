import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { FlagDefinition } from '../api/types.ts';
import { fieldChanges, targetingText, valueText } from './flag-view.ts';

const flag = (over: Partial<FlagDefinition> = {}): FlagDefinition => ({
  state: 'ENABLED',
  variants: { on: true, off: false },
  defaultVariant: 'off',
  ...over,
});

test('targeting in words', () => {
  const cases: [FlagDefinition, string][] = [
    [flag(), 'everyone: off'],
    [flag({ targeting: {} }), 'everyone: off'],
    [flag({ defaultVariant: null }), "everyone: the code's default"],
    [
      flag({
        targeting: {
          fractional: [
            ['on', 50],
            ['off', 50],
          ],
        },
      }),
      'on 50% · off 50%',
    ],
    [
      flag({
        targeting: {
          fractional: [
            ['on', 1],
            ['off', 2],
          ],
        },
      }),
      'on 33.3% · off 66.7%',
    ],
    [flag({ targeting: { if: [{ '==': [{ var: 'tier' }, 'gold'] }, 'on', 'off'] } }), 'rule'],
  ];
  for (const [f, text] of cases) assert.equal(targetingText(f), text);
});

test('values and field changes', () => {
  assert.equal(valueText({ limit: 3 }), '{"limit":3}');
  assert.equal(valueText('blue'), '"blue"');
  assert.deepEqual(
    fieldChanges({
      flag: 'recommendations',
      change: 'changed',
      fields: ['state', 'targeting'],
      before: flag(),
      after: flag({ state: 'DISABLED', targeting: { fractional: [['on', 1]] } }),
    }),
    [
      { field: 'state', before: '"ENABLED"', after: '"DISABLED"' },
      { field: 'targeting', before: '–', after: '{"fractional":[["on",1]]}' },
    ],
  );
  assert.deepEqual(fieldChanges({ flag: 'x', change: 'added', fields: ['state'], after: flag() }), [
    { field: 'state', before: '–', after: '"ENABLED"' },
  ]);
});
