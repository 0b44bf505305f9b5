// One incident's report: what triggered the rollback with its numbers, what it cost users, the
// timeline, what was done, and what the verification of the restored revision found. The same
// report as Markdown is one link away.
import type { Incident, VerificationCheck } from '../api/types.ts';
import { useApi } from '../api/use-api.ts';
import { duration, percent, revisionLabel } from '../format.ts';
import { useLive } from '../live/live-store.ts';
import { Link } from '../router/router.tsx';
import { paths } from '../router/routes.ts';
import { Badge, Empty, Fact, Loading, PageTitle, Problem, Time } from '../ui/bits.tsx';
import { severityTone, statusTone } from './incident-tones.ts';

export function IncidentPage({ id }: { id: string }) {
  const live = useLive();
  const path = `/api/v1/incidents/${encodeURIComponent(id)}`;
  const lastEvent =
    live.events.findLast((e) => e.type.startsWith('incident.') || e.type.startsWith('rollout.'))?.id ?? 0;
  const incident = useApi<Incident>(path, `${live.epoch}-${lastEvent}`);
  if (incident.error && !incident.data) return <Problem error={incident.error} />;
  const i = incident.data;
  if (!i) return <Loading what="the incident" />;
  return (
    <>
      <PageTitle
        sub={
          <>
            {i.id} · opened <Time at={i.openedAt} />
            {i.resolvedAt && (
              <>
                {' '}
                · resolved <Time at={i.resolvedAt} />
              </>
            )}
          </>
        }
      >
        {i.title}
      </PageTitle>
      <div className="status-line">
        <Badge tone={severityTone(i.severity)}>{i.severity}</Badge>
        <Badge tone={statusTone(i.status)}>{i.status}</Badge>
        <Link href={paths.app(i.app)}>{i.app}</Link>
        {i.rolloutId && <Link href={paths.rollout(i.app, i.rolloutId)}>the rollout</Link>}
        <a data-testid="download-md" href={`${path}?format=md`} download={`${i.id}.md`}>
          Download as Markdown
        </a>
      </div>
      <dl className="facts wide">
        <Fact label="Rolled back">{revisionLabel(i.revisions.to.number, i.revisions.to.version)}</Fact>
        <Fact label="Restored">
          {i.revisions.from ? revisionLabel(i.revisions.from.number, i.revisions.from.version) : 'none'}
        </Fact>
        {i.partialRollback && (
          <Fact label="Kill switch">
            flag {i.partialRollback.flag} off (flag set v{i.partialRollback.flagSetVersionBefore} → v
            {i.partialRollback.flagSetVersionAfter}); the release kept serving
          </Fact>
        )}
      </dl>
      <Trigger incident={i} />
      <Impact incident={i} />
      <section>
        <h2>Timeline</h2>
        <ol className="timeline">
          {i.timeline.map((t, n) => (
            // biome-ignore lint/suspicious/noArrayIndexKey: the timeline is append-only.
            <li key={n}>
              <Time at={t.at} /> <strong>{t.event}</strong>
              {t.detail && <span className="quiet"> {t.detail}</span>}
            </li>
          ))}
        </ol>
      </section>
      <section>
        <h2>Actions</h2>
        {i.actions.length === 0 ? (
          <Empty>No action recorded.</Empty>
        ) : (
          <ul className="plain">
            {i.actions.map((a, n) => (
              // biome-ignore lint/suspicious/noArrayIndexKey: the actions are append-only.
              <li key={n}>
                <Time at={a.at} /> {a.action}{' '}
                <span className="quiet">
                  by {a.by}: {a.result}
                </span>
              </li>
            ))}
          </ul>
        )}
      </section>
      <Rollback incident={i} />
      <section>
        <h2>Verification</h2>
        {i.verification ? (
          <>
            <p>
              <Badge tone={i.verification.passed ? 'ok' : 'bad'}>
                {i.verification.passed ? 'passed' : 'failed'}
              </Badge>{' '}
              <Time at={i.verification.at} />
            </p>
            <Checks checks={i.verification.checks} />
          </>
        ) : (
          <Empty>Not verified yet.</Empty>
        )}
      </section>
      {i.database !== undefined && (
        <section>
          <h2>Database</h2>
          <details>
            <summary>What was checked and undone in the database</summary>
            <pre className="json">{JSON.stringify(i.database, null, 2)}</pre>
          </details>
        </section>
      )}
    </>
  );
}

function Trigger({ incident }: { incident: Incident }) {
  const t = incident.trigger;
  return (
    <section>
      <h2>Trigger</h2>
      <p>{t.message}</p>
      <dl className="facts">
        <Fact label="Kind">
          {t.kind}
          {t.judgment && ` (${t.judgment})`}
        </Fact>
        {t.phase && <Fact label="Caught">{t.phase}</Fact>}
        {t.rule && <Fact label="Rule">{t.rule}</Fact>}
        {t.metric && (
          <Fact label="Metric">
            {t.metric}
            {t.observed !== undefined && ` ${t.observed} (threshold ${t.threshold ?? '–'})`}
          </Fact>
        )}
        {t.breachingSince !== undefined && (
          <Fact label="Breaching since">
            <Time at={t.breachingSince} />
          </Fact>
        )}
      </dl>
    </section>
  );
}

function Impact({ incident }: { incident: Incident }) {
  const m = incident.impact;
  const bad = incident.revisions.to.version;
  return (
    <section>
      <h2>Impact</h2>
      {m.requestsServed === 0 && !incident.partialRollback?.measuredFrom ? (
        <p>No traffic reached {bad}.</p>
      ) : (
        <dl className="facts">
          <Fact label={`Requests served by ${bad}`}>{m.requestsServed}</Fact>
          <Fact label="Failed">
            {m.requestsFailed} ({m.connectFailures} connection failures)
          </Fact>
          <Fact label="Error rate">
            {percent(m.errorRate)} <span className="quiet">(stable: {percent(m.stableErrorRate)})</span>
          </Fact>
          <Fact label="Largest traffic share">{percent(m.trafficShare)}</Fact>
          <Fact label="Sticky users exposed">{m.stickyUsersExposed ?? 'unknown'}</Fact>
          <Fact label="Exposure">{duration(m.exposureMs)}</Fact>
        </dl>
      )}
    </section>
  );
}

function Rollback({ incident }: { incident: Incident }) {
  const r = incident.rollback;
  return (
    <section>
      <h2>Rollback</h2>
      <dl className="facts">
        <Fact label="Started">
          <Time at={r.startedAt} />
        </Fact>
        <Fact label="Traffic restored">
          {r.trafficRestoredAt ? <Time at={r.trafficRestoredAt} /> : 'not yet'}
        </Fact>
        <Fact label="Completed">{r.completedAt ? <Time at={r.completedAt} /> : 'not yet'}</Fact>
        <Fact label="Took">{r.durationMs === null ? 'not finished' : duration(r.durationMs)}</Fact>
      </dl>
    </section>
  );
}

function Checks({ checks }: { checks: readonly VerificationCheck[] }) {
  if (checks.length === 0) return <Empty>No check was made.</Empty>;
  return (
    <ul className="checks">
      {checks.map((c) => (
        <li key={c.name}>
          <Badge tone={c.notChecked ? 'quiet' : c.passed ? 'ok' : 'bad'}>
            {c.notChecked ? 'not checked' : c.passed ? 'passed' : 'failed'}
          </Badge>{' '}
          <strong>{c.name}</strong> <span className="quiet">{c.detail}</span>
        </li>
      ))}
    </ul>
  );
}
