// An app's database as its stable version sees it: the migration level, what is pending and when
// it runs (expand before traffic, contract after the bake), what the linter finds, and the backups
// taken before destructive changes. Read-only: changes go through rewind db.
import { apiPath } from '../api/client.ts';
import type { BackupRecord, DbLint, DbPlan } from '../api/types.ts';
import { useApi } from '../api/use-api.ts';
import { AppTabs } from '../apps/app-tabs.tsx';
import { useLive } from '../live/live-store.ts';
import { Badge, Empty, Fact, Loading, PageTitle, Problem } from '../ui/bits.tsx';
import { Table } from '../ui/table.tsx';

export function DatabasePage({ app }: { app: string }) {
  const live = useLive();
  const lastDbEvent = live.events.findLast((e) => e.app === app && e.type.startsWith('database.'))?.id ?? 0;
  const version = `${live.epoch}-${lastDbEvent}`;
  const plan = useApi<DbPlan>(apiPath(app, 'db', 'plan'), version);
  const lint = useApi<DbLint>(apiPath(app, 'db', 'lint'), version);
  const backups = useApi<BackupRecord[]>(apiPath(app, 'db', 'backups'), version);
  const noDatabase = plan.error?.message.includes('declares no database');
  return (
    <>
      <PageTitle sub="Migrations, lint findings and backups of the stable version">{app}: database</PageTitle>
      <AppTabs app={app} current="database" />
      {noDatabase ? (
        <Empty>{app} declares no database: add a database section to its rewind.yaml entry.</Empty>
      ) : (
        <>
          {plan.error && <Problem error={plan.error} />}
          {plan.data ? <Plan plan={plan.data} /> : !plan.error && <Loading what="the migration plan" />}
          <section>
            <h2>Lint</h2>
            {lint.error && <Problem error={lint.error} />}
            {lint.data ? <Lint lint={lint.data} /> : !lint.error && <Loading what="the lint findings" />}
          </section>
          <section>
            <h2>Backups</h2>
            {backups.error && <Problem error={backups.error} />}
            {backups.data ? (
              <Backups backups={backups.data} />
            ) : (
              !backups.error && <Loading what="the backups" />
            )}
          </section>
        </>
      )}
    </>
  );
}

function Plan({ plan }: { plan: DbPlan }) {
  const pending = plan.entries.filter((e) => e.state !== 'applied');
  const expand = pending.filter((e) => e.phase === 'expand').length;
  const contract = pending.filter((e) => e.phase === 'contract').length;
  return (
    <section>
      <h2>Migrations of {plan.version}</h2>
      <dl className="facts wide">
        <Fact label="Level">
          {plan.currentLevel}
          {plan.targetLevel !== plan.currentLevel && ` → ${plan.targetLevel}`}
        </Fact>
        <Fact label="Pending">
          {expand} expand, {contract} contract
        </Fact>
        <Fact label="Database">
          {plan.engine} {plan.database}
        </Fact>
        <Fact label="Folder">{plan.folder}</Fact>
      </dl>
      {plan.unknown.length > 0 && (
        <p className="problem-text">
          Applied but not in this version's folder (a newer version's): {plan.unknown.join(', ')}
        </p>
      )}
      {plan.entries.length === 0 ? (
        <Empty>No migration.</Empty>
      ) : (
        <Table
          rows={plan.entries}
          rowKey={(e) => e.key}
          columns={[
            { title: 'Migration', cell: (e) => e.key },
            { title: 'Phase', cell: (e) => e.phase },
            {
              title: 'State',
              cell: (e) => (
                <Badge tone={e.state === 'applied' ? 'ok' : e.state === 'pending' ? 'wait' : 'bad'}>
                  {e.state}
                </Badge>
              ),
            },
            { title: 'Runs', cell: (e) => e.when },
            { title: 'Findings', cell: (e) => e.findings.length },
          ]}
        />
      )}
    </section>
  );
}

function Lint({ lint }: { lint: DbLint }) {
  const findings = lint.migrations.flatMap((m) => m.findings);
  if (findings.length === 0) return <Empty>No finding in the {lint.migrations.length} migrations.</Empty>;
  return (
    <ul className="findings">
      {findings.map((f) => (
        <li key={`${f.migration}-${f.code}-${f.line}`}>
          <Badge tone={f.severity === 'error' ? 'bad' : 'wait'}>{f.severity}</Badge> <code>{f.code}</code>{' '}
          {f.rule}{' '}
          <span className="quiet">
            {f.file}:{f.line}
          </span>
          <p>{f.message}</p>
          <p className="fix">Safer: {f.fix}</p>
        </li>
      ))}
    </ul>
  );
}

/** What a contract migration took away from the backed-up tables. */
function removedText(removed: BackupRecord['removed']): string {
  if (!removed) return 'not run yet';
  const parts = [
    ...removed.tables.map((t) => `table ${t}`),
    ...Object.entries(removed.columns).map(([t, cs]) => `${t}.${cs.join(', ')}`),
    ...removed.rows.map((t) => `rows of ${t}`),
  ];
  return parts.join('; ') || 'nothing';
}

function Backups({ backups }: { backups: readonly BackupRecord[] }) {
  if (backups.length === 0) return <Empty>No backup yet: one is taken before each contract migration.</Empty>;
  return (
    <Table
      rows={backups}
      rowKey={(b) => b.backupId}
      columns={[
        { title: 'Taken', cell: (b) => b.createdAt },
        { title: 'Before', cell: (b) => b.migrationKey },
        { title: 'Revision', cell: (b) => (b.revision === null ? '–' : `r${b.revision}`) },
        { title: 'Tables', cell: (b) => b.tables.join(', ') },
        { title: 'Removed since', cell: (b) => removedText(b.removed), wrap: true },
      ]}
    />
  );
}
