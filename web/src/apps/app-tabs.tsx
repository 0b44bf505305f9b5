// The pages of one app, as tabs under its name.
import { Link } from '../router/router.tsx';
import { paths } from '../router/routes.ts';

export type AppTab = 'overview' | 'history' | 'flags' | 'database' | 'rollout';

export function AppTabs({ app, current }: { app: string; current: AppTab }) {
  const tabs: [AppTab, string, string][] = [
    ['overview', 'Overview', paths.app(app)],
    ['history', 'History', paths.history(app)],
    ['flags', 'Flags', paths.flags(app)],
    ['database', 'Database', paths.database(app)],
  ];
  return (
    <nav className="tabs" aria-label={`${app} pages`}>
      {tabs.map(([tab, label, href]) => (
        <Link key={tab} className="tab" href={href} aria-current={tab === current ? 'page' : undefined}>
          {label}
        </Link>
      ))}
    </nav>
  );
}
