import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RevisionDiffEntry } from '../api/types.ts';
import { authorOf, changeText, diffSections, outcomeTone } from './revision-diff.ts';

const c = (
  kind: RevisionDiffEntry['kind'],
  key: string,
  change: RevisionDiffEntry['change'],
  from?: string | number | null,
  to?: string | number | null,
): RevisionDiffEntry => ({ kind, key, change, from, to });

test('changes in words', () => {
  const cases: [RevisionDiffEntry, string][] = [
    [c('version', 'version', 'changed', 'v1', 'v3'), 'v1 → v3'],
    [c('env', 'FOO', 'added', null, 'bar'), 'added: bar'],
    [c('config', 'GREETING', 'removed', 'hello', null), 'removed (was hello)'],
    [c('secret', 'API_KEY', 'changed'), 'changed (value not shown)'],
    [c('flagSet', 'flagSet', 'changed', null, 2), 'none → 2'],
    [c('migrationLevel', 'migrationLevel', 'changed', 3, 4), '3 → 4'],
  ];
  for (const [entry, text] of cases) assert.equal(changeText(entry), text, entry.key);
});

test('sections in a fixed order, empty ones left out', () => {
  const sections = diffSections([
    c('env', 'B', 'added', null, '1'),
    c('version', 'version', 'changed', 'v1', 'v2'),
    c('env', 'A', 'removed', '1', null),
    c('secret', 'K', 'added'),
  ]);
  assert.deepEqual(
    sections.map((s) => [s.title, s.entries.map((e) => e.key)]),
    [
      ['Version', ['version']],
      ['Environment', ['B', 'A']],
      ['Secrets (names only)', ['K']],
    ],
  );
});

test('author and outcome tone', () => {
  assert.equal(authorOf({ spec: { author: 'alice' } }), 'alice');
  assert.equal(authorOf({ spec: { author: null } }), null);
  assert.equal(authorOf({ spec: null }), null);
  const tones: [Parameters<typeof outcomeTone>[0], string][] = [
    ['stable', 'ok'],
    ['rolling out', 'busy'],
    ['rolled back', 'bad'],
    ['aborted', 'bad'],
    ['failed', 'bad'],
    ['superseded', 'quiet'],
    [null, 'quiet'],
  ];
  for (const [outcome, tone] of tones) assert.equal(outcomeTone(outcome), tone);
});
