// An app's revisions, newest first, with what became of each, who made it and why; and what
// changed between any two of them.
import { useState } from 'react';
import { apiPath } from '../api/client.ts';
import type { RevisionDiff, RevisionDiffEntry, RevisionEntry } from '../api/types.ts';
import { useApi } from '../api/use-api.ts';
import { AppTabs } from '../apps/app-tabs.tsx';
import { revisionLabel } from '../format.ts';
import { useLive } from '../live/live-store.ts';
import { Badge, Empty, Loading, PageTitle, Problem, Time } from '../ui/bits.tsx';
import { Table } from '../ui/table.tsx';
import { authorOf, changeText, diffSections, outcomeTone } from './revision-diff.ts';

export function HistoryPage({ app }: { app: string }) {
  const live = useLive();
  const lastRolloutEvent = live.events.findLast((e) => e.app === app && e.rolloutId !== null)?.id ?? 0;
  const revisions = useApi<RevisionEntry[]>(
    `${apiPath(app, 'revisions')}?limit=50`,
    `${live.epoch}-${lastRolloutEvent}`,
  );
  return (
    <>
      <PageTitle sub="Every revision, what became of it, who made it and why">{app}: history</PageTitle>
      <AppTabs app={app} current="history" />
      {revisions.error && <Problem error={revisions.error} />}
      {!revisions.data ? (
        !revisions.error && <Loading what="the revisions" />
      ) : revisions.data.length === 0 ? (
        <Empty>No revision yet.</Empty>
      ) : (
        <>
          <RevisionTable revisions={revisions.data} />
          <Compare app={app} revisions={revisions.data} />
        </>
      )}
    </>
  );
}

function RevisionTable({ revisions }: { revisions: readonly RevisionEntry[] }) {
  return (
    <Table
      rows={revisions}
      rowKey={(r) => r.number}
      rowTestId={(r) => `revision-${r.number}`}
      columns={[
        {
          title: 'Revision',
          cell: (r) => (
            <>
              {revisionLabel(r.number, r.version)}
              {r.copiedFrom !== null && <span className="quiet"> copy of r{r.copiedFrom}</span>}
            </>
          ),
        },
        {
          title: 'Outcome',
          cell: (r) => <Badge tone={outcomeTone(r.outcome)}>{r.outcome ?? 'unknown'}</Badge>,
        },
        { title: 'Made', cell: (r) => <Time at={r.createdAt} /> },
        { title: 'By', cell: (r) => authorOf(r) ?? '–' },
        { title: 'Why', cell: (r) => r.reason ?? '', wrap: true },
      ]}
    />
  );
}

/** Two revisions side by side: by default the stable one and the one that served before it. */
function Compare({ app, revisions }: { app: string; revisions: readonly RevisionEntry[] }) {
  const [from, setFrom] = useState('');
  const [to, setTo] = useState('');
  const stable = revisions.find((r) => r.outcome === 'stable')?.number;
  const first = Math.min(...revisions.map((r) => r.number));
  // The server compares a revision with the one that served before it: the first has none.
  const nothingBefore = !from && (to ? Number(to) : stable) === first;
  const query = new URLSearchParams({ ...(from && { from }), ...(to && { to }) }).toString();
  const diff = useApi<RevisionDiff>(
    nothingBefore ? null : `${apiPath(app, 'revisions', 'diff')}${query ? `?${query}` : ''}`,
  );
  const pick = (label: string, value: string, set: (v: string) => void, fallback: string) => (
    <label className="field inline">
      <span>{label}</span>
      <select value={value} onChange={(e) => set(e.target.value)}>
        <option value="">{fallback}</option>
        {revisions.map((r) => (
          <option key={r.number} value={r.number}>
            {revisionLabel(r.number, r.version)}
          </option>
        ))}
      </select>
    </label>
  );
  return (
    <section aria-labelledby="compare-title">
      <h2 id="compare-title">Compare two revisions</h2>
      <div className="pickers">
        {pick('From', from, setFrom, 'the one that served before')}
        {pick('To', to, setTo, 'the stable one')}
      </div>
      {nothingBefore ? (
        <Empty>Revision {first} is the first: pick another to compare it with.</Empty>
      ) : (
        <>
          {diff.error && <Problem error={diff.error} />}
          {diff.data && <DiffView diff={diff.data} />}
        </>
      )}
    </section>
  );
}

const BASIS: Readonly<Record<RevisionDiff['basis'], string>> = {
  given: 'as chosen',
  servedBefore: 'the revision that served when it was rolled out',
  previous: 'the revision numbered before it',
};

function DiffView({ diff }: { diff: RevisionDiff }) {
  const sections = diffSections(diff.changes as RevisionDiffEntry[]);
  return (
    <div className="diff" data-testid="revision-diff">
      <p>
        From r{diff.from} to r{diff.to} <span className="quiet">(from: {BASIS[diff.basis]})</span>
        {diff.skipped.length > 0 && (
          <span className="quiet">
            {' '}
            · between them: {diff.skipped.map((s) => `r${s.revision} ${s.outcome ?? ''}`.trim()).join(', ')}
          </span>
        )}
      </p>
      {sections.length === 0 ? (
        <Empty>The two revisions deploy the same thing.</Empty>
      ) : (
        sections.map((s) => (
          <div key={s.kind} className="diff-section">
            <h3>{s.title}</h3>
            <ul>
              {s.entries.map((e) => (
                <li key={`${e.kind}-${e.key}`} className={`change-${e.change}`}>
                  {e.key !== e.kind && <code>{e.key}</code>} {changeText(e)}
                </li>
              ))}
            </ul>
          </div>
        ))
      )}
    </div>
  );
}
