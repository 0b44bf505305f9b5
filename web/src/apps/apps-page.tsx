// Every app the session may see, live.
import { useLive } from '../live/live-store.ts';
import { Empty, Loading, PageTitle } from '../ui/bits.tsx';
import { AppCard } from './app-card.tsx';

export function AppsPage() {
  const live = useLive();
  if (!live.apps) return <Loading what="the apps" />;
  const now = Date.now();
  return (
    <>
      <PageTitle sub="Stable and new revisions, their traffic and the last two minutes of requests, errors and p99 latency">
        Apps
      </PageTitle>
      {live.apps.length === 0 ? (
        <Empty>No app is declared in this server's rewind.yaml, or none this session may see.</Empty>
      ) : (
        <div className="cards">
          {live.apps.map((a) => (
            <AppCard key={a.name} detail={a} series={live.series[a.name] ?? []} now={now} />
          ))}
        </div>
      )}
    </>
  );
}
