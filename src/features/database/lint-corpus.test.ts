// The labelled corpus of bench/lint-corpus as a table test: every hazardous migration gets an
// error, no safe one does, and a safe one gets exactly the warning (or the silence) its label
// expects. bench/lint.ts runs the same corpus against squawk; this keeps the linter from regressing
// without paying for squawk.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type CorpusEntry, lintCorpusEntry, loadCorpus, verdict } from '../../../test/support/lint-corpus.ts';

const entries = await loadCorpus();

test('the corpus is big enough and has a held-out part', () => {
  assert.ok(entries.length >= 70, `${entries.length} files`);
  const heldOut = entries.filter((e) => e.heldOut);
  assert.ok(heldOut.length >= 20 && heldOut.some((e) => e.hazardous) && heldOut.some((e) => !e.hazardous));
});

const describe = (e: CorpusEntry) => `${e.file} (${e.hazard ?? `safe, expect ${e.expect}`}; ${e.source})`;

for (const e of entries.filter((x) => x.knownMiss === undefined)) {
  test(`corpus: ${describe(e)}`, async () => {
    const l = await lintCorpusEntry(e);
    assert.equal(
      verdict(l),
      e.expect,
      l.findings.map((f) => `${f.severity} ${f.code} ${f.message}`).join('\n') || 'no finding',
    );
  });
}

test('the known misses of the held-out part are still the only misses', async () => {
  const known = entries.filter((e) => e.knownMiss !== undefined);
  const missed: string[] = [];
  for (const e of known) if (verdict(await lintCorpusEntry(e)) !== 'error') missed.push(e.file);
  // A rule that catches one of them: drop its knownMiss from labels.json.
  assert.deepEqual(
    missed,
    known.map((e) => e.file),
  );
});
