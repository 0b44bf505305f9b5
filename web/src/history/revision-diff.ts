// A revision's history entry and the difference between two revisions, in words.
import type { RevisionDiffEntry, RevisionEntry } from '../api/types.ts';

type Kind = RevisionDiffEntry['kind'];

/** The sections of a diff, in the order a person checks them. */
export const DIFF_SECTIONS: readonly { readonly kind: Kind; readonly title: string }[] = [
  { kind: 'version', title: 'Version' },
  { kind: 'command', title: 'Command' },
  { kind: 'instances', title: 'Instances' },
  { kind: 'env', title: 'Environment' },
  { kind: 'config', title: 'Config' },
  { kind: 'secret', title: 'Secrets (names only)' },
  { kind: 'flagSet', title: 'Flag-set version' },
  { kind: 'migrationLevel', title: 'Migration level' },
];

export interface DiffSection {
  readonly kind: Kind;
  readonly title: string;
  readonly entries: readonly RevisionDiffEntry[];
}

/** The diff's entries by section; sections without entries are left out. */
export function diffSections(changes: readonly RevisionDiffEntry[]): DiffSection[] {
  return DIFF_SECTIONS.map((s) => ({ ...s, entries: changes.filter((c) => c.kind === s.kind) })).filter(
    (s) => s.entries.length > 0,
  );
}

const shown = (v: string | number | null | undefined) => (v === null || v === undefined ? 'none' : String(v));

/** "added: bar", "removed (was: 1)", "v1 → v3"; a secret says only what happened to it. */
export function changeText(entry: RevisionDiffEntry): string {
  if (entry.kind === 'secret') return `${entry.change} (value not shown)`;
  if (entry.change === 'added') return `added: ${shown(entry.to)}`;
  if (entry.change === 'removed') return `removed (was ${shown(entry.from)})`;
  return `${shown(entry.from)} → ${shown(entry.to)}`;
}

/** Who made the revision (the token's name), when the revision says. */
export function authorOf(entry: Pick<RevisionEntry, 'spec'>): string | null {
  const author = (entry.spec as { author?: unknown } | null)?.author;
  return typeof author === 'string' ? author : null;
}

/** How an outcome reads at a glance. */
export function outcomeTone(outcome: RevisionEntry['outcome']): 'ok' | 'busy' | 'bad' | 'quiet' {
  switch (outcome) {
    case 'stable':
      return 'ok';
    case 'rolling out':
      return 'busy';
    case 'rolled back':
    case 'failed':
    case 'aborted':
      return 'bad';
    default:
      return 'quiet';
  }
}
