// Every incident the session may see, newest first; a rollback opens one, so the list follows the
// stream's incident events.
import type { Incident } from '../api/types.ts';
import { useApi } from '../api/use-api.ts';
import { useLive } from '../live/live-store.ts';
import { Link } from '../router/router.tsx';
import { paths } from '../router/routes.ts';
import { Badge, Empty, Loading, PageTitle, Problem, Time } from '../ui/bits.tsx';
import { severityTone, statusTone } from './incident-tones.ts';

export function IncidentsPage() {
  const live = useLive();
  const lastIncidentEvent = live.events.findLast((e) => e.type.startsWith('incident.'))?.id ?? 0;
  const incidents = useApi<Incident[]>('/api/v1/incidents?limit=100', `${live.epoch}-${lastIncidentEvent}`);
  return (
    <>
      <PageTitle sub="Every rollback opens one: its timeline, impact and verification">Incidents</PageTitle>
      {incidents.error && <Problem error={incidents.error} />}
      {!incidents.data ? (
        !incidents.error && <Loading what="the incidents" />
      ) : incidents.data.length === 0 ? (
        <Empty>No incident: nothing has been rolled back.</Empty>
      ) : (
        <ul className="incident-list">
          {incidents.data.map((i) => (
            <li key={i.id} data-testid={`incident-${i.id}`}>
              <Badge tone={severityTone(i.severity)}>{i.severity}</Badge>
              <Badge tone={statusTone(i.status)}>{i.status}</Badge>
              <Link href={paths.incident(i.id)} className="incident-title">
                {i.title}
              </Link>
              <span className="quiet">
                {i.app} · <Time at={i.openedAt} />
              </span>
            </li>
          ))}
        </ul>
      )}
    </>
  );
}
