// A one-flag edit has flagd-core load that flag alone and keeps the other flags' warnings: over the
// testbed's 71 flags (18 of them with problems flagd loads anyway), every edit must give the very
// warnings a full parse of the same document gives.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type FlagSetWarning,
  parseFlagSet,
  warningsOf,
  withFlag,
} from '../../src/features/flags/flag-set.ts';
import { flagDocument } from '../support/flagd-testbed.ts';

const sorted = (ws: readonly FlagSetWarning[]) => ws.map((w) => JSON.stringify(w)).sort();

for (const source of ['allFlags', 'testkit'] as const) {
  test(`a one-flag edit warns as a full parse does: every flag of the testbed's ${source}`, () => {
    const doc = flagDocument(source);
    const full = parseFlagSet(doc);
    const expected = sorted(warningsOf(full));
    assert.ok(expected.length > 0 || source === 'testkit', 'the testbed has flags with problems');
    for (const [key, definition] of Object.entries(doc.flags)) {
      // Added to a set without it, and replacing itself in the full set.
      const { [key]: _, ...others } = doc.flags;
      const added = withFlag(parseFlagSet({ ...doc, flags: others }), key, definition);
      assert.deepEqual(sorted(warningsOf(added)), expected, `adding ${key}`);
      assert.deepEqual(sorted(warningsOf(withFlag(full, key, definition))), expected, `replacing ${key}`);
    }
  });
}

test('a one-flag edit that fixes a flag drops its warnings and keeps the others', () => {
  const doc = flagDocument('allFlags');
  const full = parseFlagSet(doc);
  const flawed = warningsOf(full).find((w) => w.flag !== undefined)!;
  const fixed = withFlag(full, flawed.flag!, {
    state: 'ENABLED',
    variants: { on: true, off: false },
    defaultVariant: 'on',
  });
  const left = warningsOf(fixed);
  assert.ok(!left.some((w) => w.flag === flawed.flag), `no warning left on ${flawed.flag}`);
  assert.deepEqual(sorted(left), sorted(warningsOf(full).filter((w) => w.flag !== flawed.flag)));
});
