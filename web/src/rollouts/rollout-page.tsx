// One rollout: its phase (live), its steps with the current one marked, its charts per revision
// with the rules' thresholds and what happened on them, the buttons that steer it, and its events.
import { useEffect } from 'react';
import type { RewindEvent, Rollout, RolloutState } from '../api/types.ts';
import { useApi } from '../api/use-api.ts';
import { AppTabs } from '../apps/app-tabs.tsx';
import { RollbackButton } from '../apps/rollback-button.tsx';
import { phaseText, phaseTone, revisionLabel } from '../format.ts';
import { rolloutEvents } from '../live/live-state.ts';
import { loadSeries, useLive } from '../live/live-store.ts';
import { Badge, Empty, Loading, PageTitle, Problem, Time } from '../ui/bits.tsx';
import { Table } from '../ui/table.tsx';
import { RolloutCharts } from './rollout-charts.tsx';
import { RolloutControls } from './rollout-controls.tsx';
import { type StepStatus, stepLabel, stepStatuses } from './rollout-steps.ts';
import { LEAD_SECONDS, newer, rolloutWindow } from './rollout-window.ts';

export function RolloutPage({ app, id }: { app: string; id: string }) {
  const live = useLive();
  const detail = live.apps?.find((a) => a.name === app);
  const lastEvent = live.events.findLast((e) => e.rolloutId === id)?.id ?? 0;
  const fetched = useApi<Rollout>(`/api/v1/rollouts/${encodeURIComponent(id)}`, `${live.epoch}-${lastEvent}`);
  const history = useApi<RewindEvent[]>(`/api/v1/rollouts/${encodeURIComponent(id)}/events`, live.epoch);
  const active = detail?.activeRollout?.id === id ? detail.activeRollout : undefined;
  const rollout = newer(fetched.data, active);
  const createdAt = rollout?.createdAt;

  useEffect(() => {
    if (createdAt !== undefined && live.epoch > 0)
      loadSeries(app, createdAt / 1000 - LEAD_SECONDS).catch(() => {});
  }, [app, createdAt, live.epoch]);

  if (!rollout) {
    if (fetched.error) return <Problem error={fetched.error} />;
    return <Loading what="the rollout" />;
  }
  const events = rolloutEvents(history.data ?? [], live.events, id);
  const points = live.series[app] ?? [];
  const { from, to } = rolloutWindow(rollout, points[points.length - 1]?.second ?? null, Date.now());
  const version = (events.find((e) => e.type === 'deploy.started')?.data as { version?: string } | null)
    ?.version;
  const state = rollout.state as RolloutState;
  const isStable = detail?.stableRevision === rollout.toRevision && rollout.phase === 'Completed';

  return (
    <>
      <PageTitle
        sub={
          <>
            {rollout.strategy} · started <Time at={rollout.createdAt} />
            {rollout.finishedAt && (
              <>
                {' '}
                · ended <Time at={rollout.finishedAt} />
              </>
            )}{' '}
            · <span className="quiet">{rollout.id}</span>
          </>
        }
      >
        {app}: {rollout.kind === 'rollback' ? 'rollback' : 'rollout'} to{' '}
        {revisionLabel(rollout.toRevision, version)}
        {rollout.fromRevision !== null && <span className="quiet"> from r{rollout.fromRevision}</span>}
      </PageTitle>
      <AppTabs app={app} current="rollout" />
      <div className="status-line">
        <Badge tone={phaseTone(rollout.phase)} testId={`phase-${app}`}>
          {phaseText(rollout.phase)}
        </Badge>
        {state.weight > 0 && rollout.finishedAt === null && (
          <span>
            {state.weight}% of traffic on r{rollout.toRevision}
          </span>
        )}
        {rollout.error && <span className="problem-text">{rollout.error}</span>}
        {!rollout.error && rollout.reason && <span className="quiet">{rollout.reason}</span>}
      </div>
      <div className="actions">
        {active && <RolloutControls app={app} rollout={active} />}
        {active && <RollbackButton app={app} stable={detail?.stableRevision ?? null} active={active} />}
        {isStable && rollout.fromRevision !== null && (
          <RollbackButton
            app={app}
            stable={rollout.toRevision}
            active={null}
            suggested={rollout.fromRevision}
          />
        )}
      </div>
      <div className="rollout-grid">
        <section aria-labelledby="steps-title">
          <h2 id="steps-title">Steps</h2>
          <Steps rollout={rollout} />
        </section>
        <section aria-labelledby="charts-title" className="rollout-charts">
          <h2 id="charts-title">Traffic per revision</h2>
          <RolloutCharts
            rollout={rollout}
            points={points}
            rules={detail?.rules ?? []}
            events={events}
            marks={live.judgments[id] ?? []}
            from={from}
            to={to}
          />
        </section>
      </div>
      <section>
        <h2>Events</h2>
        <Events events={events} />
      </section>
    </>
  );
}

const STATUS_TEXT: Readonly<Record<StepStatus, string>> = {
  done: 'done',
  current: 'now',
  failed: 'failed here',
  undone: 'undone',
  skipped: 'not run',
  pending: 'to come',
};

function Steps({ rollout }: { rollout: Rollout }) {
  const state = rollout.state as RolloutState;
  const statuses = stepStatuses(rollout);
  return (
    <>
      <ol className="steps">
        {state.steps.map((step, i) => {
          const status = statuses[i] ?? 'pending';
          return (
            <li
              // Steps have no identity but their place.
              // biome-ignore lint/suspicious/noArrayIndexKey: a rollout's steps never reorder.
              key={i}
              className={`step step-${status}`}
              aria-current={status === 'current' ? 'step' : undefined}
            >
              <span className="step-name">{stepLabel(step)}</span>
              <span className="step-status">{STATUS_TEXT[status]}</span>
            </li>
          );
        })}
      </ol>
      {state.paused && (
        <p>
          Paused <Time at={state.paused.at} />: {state.paused.reason}
        </p>
      )}
      {state.compensation && (
        <p className="problem-text">
          Turned around at {state.compensation.failure.step}: {state.compensation.failure.reason}
        </p>
      )}
    </>
  );
}

function Events({ events }: { events: readonly RewindEvent[] }) {
  if (events.length === 0) return <Empty>No events yet.</Empty>;
  return (
    <Table
      rows={events}
      rowKey={(e) => e.id}
      columns={[
        { title: 'Time', cell: (e) => <Time at={e.at} /> },
        { title: 'Event', cell: (e) => e.type },
        { title: 'What happened', cell: (e) => e.message, wrap: true },
      ]}
    />
  );
}
