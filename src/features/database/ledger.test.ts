// The ledger's state machine: a write the table does not list is refused and changes nothing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openTarget } from '../../../test/support/db-targets.ts';
import {
  ensureLedger,
  LEDGER_TRANSITIONS,
  type LedgerEntry,
  putRow,
  readLedger,
  updateRow,
} from './ledger.ts';

const row: LedgerEntry = {
  app: 'shop',
  key: '0001_a',
  id: 1,
  name: 'a',
  phase: 'expand',
  checksum: 'x',
  state: 'applied',
  revision: 1,
  rolloutId: 'r1',
  controller: 'c1',
  appliedAt: null,
  revertedAt: null,
  fingerprintBefore: null,
  fingerprintAfter: null,
  fingerprintReverted: null,
  statsBefore: null,
  statementsDone: 1,
  upCount: 1,
  inFlight: -1,
  stepFingerprint: null,
  inFlightSession: null,
  undoRemaining: 0,
  changes: [],
  downSql: null,
  lastError: null,
};

test('every state is reachable and every transition is listed once', () => {
  const targets = new Set(Object.values(LEDGER_TRANSITIONS).flat());
  for (const state of ['applying', 'applied', 'reverting', 'reverted', 'failed'] as const)
    assert.ok(targets.has(state), state);
  for (const [from, to] of Object.entries(LEDGER_TRANSITIONS))
    assert.equal(new Set(to).size, to.length, from);
});

test('a transition the table does not list is refused and the row stays as it was', async () => {
  const t = await openTarget('sqlite');
  try {
    await ensureLedger(t.db);
    await assert.rejects(
      putRow(t.db, { ...row, state: 'reverted' }),
      /no transition from no row to reverted/,
    );
    await putRow(t.db, row);
    await assert.rejects(
      updateRow(t.db, 'shop', '0001_a', { state: 'applying' }),
      /ledger row 0001_a: no transition from applied to applying/,
    );
    assert.equal((await readLedger(t.db, 'shop'))[0]!.state, 'applied');
    await updateRow(t.db, 'shop', '0001_a', { state: 'reverting' });
    assert.equal((await readLedger(t.db, 'shop'))[0]!.state, 'reverting');
  } finally {
    await t.cleanup();
  }
});
