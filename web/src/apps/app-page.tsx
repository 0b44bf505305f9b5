// One app: where it stands (revisions, phase, traffic, health, what the analysis says), what can
// be done to it, its instances, its rules and its recent rollouts.
import { apiPath } from '../api/client.ts';
import type { AppDetail, Rollout } from '../api/types.ts';
import { useApi } from '../api/use-api.ts';
import { ago, duration, phaseText, phaseTone, revisionLabel } from '../format.ts';
import { useLive } from '../live/live-store.ts';
import { RolloutControls } from '../rollouts/rollout-controls.tsx';
import { Link } from '../router/router.tsx';
import { paths } from '../router/routes.ts';
import { Badge, Empty, Fact, Loading, PageTitle, Time } from '../ui/bits.tsx';
import { Table } from '../ui/table.tsx';
import { AppPhase, HealthFact, StableFact, TrafficFact } from './app-facts.tsx';
import { AppTabs } from './app-tabs.tsx';
import { RollbackButton } from './rollback-button.tsx';
import { thresholdText } from './rule-text.ts';

export function AppPage({ app }: { app: string }) {
  const live = useLive();
  const detail = live.apps?.find((a) => a.name === app);
  const lastRolloutEvent = live.events.findLast((e) => e.app === app && e.rolloutId !== null)?.id ?? 0;
  const rollouts = useApi<Rollout[]>(
    `${apiPath(app, 'rollouts')}?limit=15`,
    `${live.epoch}-${lastRolloutEvent}`,
  );
  if (!live.apps) return <Loading what={app} />;
  if (!detail)
    return (
      <>
        <PageTitle>{app}</PageTitle>
        <Empty>
          No app {app} here, or this session may not see it. <Link href={paths.apps()}>See the apps</Link>.
        </Empty>
      </>
    );
  const rollout = detail.activeRollout;
  return (
    <>
      <PageTitle sub={`Listens on ${detail.listen}`}>{app}</PageTitle>
      <AppTabs app={app} current="overview" />
      <Status detail={detail} />
      <div className="actions">
        {rollout && <RolloutControls app={app} rollout={rollout} />}
        <RollbackButton app={app} stable={detail.stableRevision} active={rollout} />
      </div>
      <Analysis detail={detail} />
      <section>
        <h2>Instances</h2>
        <Instances detail={detail} />
      </section>
      <section>
        <h2>Rules</h2>
        <Rules rules={detail.rules} />
      </section>
      <section>
        <h2>Rollouts</h2>
        {rollouts.data ? <RolloutList app={app} rollouts={rollouts.data} /> : <Loading what="the rollouts" />}
      </section>
    </>
  );
}

function Status({ detail }: { detail: AppDetail }) {
  const rollout = detail.activeRollout;
  const drill = detail.lastProvenDrill;
  return (
    <dl className="facts wide">
      <StableFact detail={detail} />
      <Fact label="Phase">
        <AppPhase detail={detail} />
      </Fact>
      {rollout && (
        <Fact label="Rollout">
          <Link href={paths.rollout(detail.name, rollout.id)}>
            {rollout.kind} to {revisionLabel(rollout.toRevision)} ({rollout.strategy})
          </Link>
        </Fact>
      )}
      <TrafficFact detail={detail} />
      <HealthFact detail={detail} />
      <Fact label="Way back">
        {drill ? (
          <>
            proven by drill <Time at={drill.startedAt} />
            {drill.msToTrafficRestored !== null &&
              ` (traffic restored in ${duration(drill.msToTrafficRestored)})`}
          </>
        ) : (
          'no passed drill yet'
        )}
      </Fact>
    </dl>
  );
}

/** What the analysis says now: of the rollout, of the post-deploy watch, or of the steady watch. */
function Analysis({ detail }: { detail: AppDetail }) {
  const watched = detail.analysis ?? detail.watch ?? detail.steadyWatch;
  if (!watched) return null;
  const title = detail.analysis
    ? 'Analysis of the rollout'
    : detail.watch
      ? `Post-deploy watch of revision ${detail.watch.revision} (${duration(detail.watch.leftMs)} left)`
      : `Steady-state watch of revision ${detail.steadyWatch?.revision}`;
  const judgment = 'judgment' in watched ? watched.judgment : null;
  return (
    <section>
      <h2>{title}</h2>
      {judgment && (
        <p>
          Judgment: <strong>{judgment.verdict}</strong> <span className="quiet">{judgment.message}</span>
        </p>
      )}
      {watched.rules.length === 0 ? (
        <p className="quiet">No rule evaluated yet.</p>
      ) : (
        <ul className="rule-phases">
          {watched.rules.map((r) => (
            <li key={r.name}>
              <Badge tone={r.phase === 'Pass' ? 'ok' : r.phase === 'Breach' ? 'bad' : 'quiet'}>
                {r.phase}
              </Badge>{' '}
              {r.name} <span className="quiet">{r.message}</span>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function Instances({ detail }: { detail: AppDetail }) {
  const running = detail.instances.filter((i) => i.phase !== 'Stopped');
  if (running.length === 0) return <Empty>No instance runs.</Empty>;
  const now = Date.now();
  return (
    <Table
      rows={running}
      rowKey={(i) => i.id}
      columns={[
        { title: 'Instance', cell: (i) => i.id },
        { title: 'Revision', cell: (i) => `r${i.revision}` },
        { title: 'Phase', cell: (i) => i.phase },
        {
          title: 'Health',
          cell: (i) => (
            <Badge tone={i.health === 'Healthy' ? 'ok' : i.health === 'Unknown' ? 'quiet' : 'bad'}>
              {i.health}
            </Badge>
          ),
        },
        { title: 'Started', cell: (i) => (i.startedAt ? ago(i.startedAt, now) : '–') },
        { title: 'Restarts', cell: (i) => i.restarts },
      ]}
    />
  );
}

function Rules({ rules }: { rules: AppDetail['rules'] }) {
  if (rules.length === 0) return <Empty>No rules.</Empty>;
  return (
    <Table
      rows={rules}
      rowKey={(r) => r.name}
      columns={[
        {
          title: 'Rule',
          cell: (r) => (
            <>
              {r.name}
              {r.flag && <span className="quiet"> (kill switch: {r.flag})</span>}
            </>
          ),
        },
        { title: 'Metric', cell: (r) => r.metric },
        { title: 'Threshold', cell: thresholdText },
        { title: 'For', cell: (r) => duration(r.forMs) },
        { title: 'Min. sample', cell: (r) => r.minSample },
        { title: 'Severity', cell: (r) => r.severity },
      ]}
    />
  );
}

function RolloutList({ app, rollouts }: { app: string; rollouts: readonly Rollout[] }) {
  if (rollouts.length === 0) return <Empty>No rollout yet.</Empty>;
  return (
    <Table
      rows={rollouts}
      rowKey={(r) => r.id}
      columns={[
        {
          title: 'Started',
          cell: (r) => (
            <Link href={paths.rollout(app, r.id)}>
              <Time at={r.createdAt} />
            </Link>
          ),
        },
        { title: 'Kind', cell: (r) => `${r.kind} (${r.strategy})` },
        {
          title: 'Revisions',
          cell: (r) => `${r.fromRevision === null ? '' : `r${r.fromRevision} → `}r${r.toRevision}`,
        },
        { title: 'Phase', cell: (r) => <Badge tone={phaseTone(r.phase)}>{phaseText(r.phase)}</Badge> },
        { title: 'Why', cell: (r) => r.error ?? r.reason ?? '', wrap: true },
      ]}
    />
  );
}
