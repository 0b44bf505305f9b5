// Small pieces every page uses: badges, times, loading and error notes.
import type { ReactNode } from 'react';
import { clock, dateTime } from '../format.ts';

export type Tone = 'ok' | 'busy' | 'wait' | 'bad' | 'quiet';

export function Badge({ tone, children, testId }: { tone: Tone; children: ReactNode; testId?: string }) {
  return (
    <span className={`badge badge-${tone}`} data-testid={testId}>
      {children}
    </span>
  );
}

/** A moment: the time of day, or the date too when it is not today; the full date on hover. */
export function Time({ at }: { at: number }) {
  const full = dateTime(at);
  const today = new Date(at).toDateString() === new Date().toDateString();
  return (
    <time dateTime={new Date(at).toISOString()} title={full}>
      {today ? clock(at) : full}
    </time>
  );
}

export function Problem({ error, children }: { error?: Error | undefined; children?: ReactNode }) {
  if (!error && !children) return null;
  return (
    <p className="problem" role="alert">
      {children ?? error?.message}
    </p>
  );
}

export function Loading({ what }: { what: string }) {
  return <p className="quiet">Loading {what}…</p>;
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="empty">{children}</p>;
}

/** A page's title, focusable so that a navigation can move the focus to it. */
export function PageTitle({ children, sub }: { children: ReactNode; sub?: ReactNode }) {
  return (
    <header className="page-title">
      <h1 tabIndex={-1}>{children}</h1>
      {sub && <div className="sub">{sub}</div>}
    </header>
  );
}

/** One term and its value in a `dl.facts` list. */
export function Fact({ label, children, title }: { label: ReactNode; children: ReactNode; title?: string }) {
  return (
    <div>
      <dt>{label}</dt>
      <dd title={title}>{children}</dd>
    </div>
  );
}
