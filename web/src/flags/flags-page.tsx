// An app's feature flags: each flag with its state, variants and who gets which; the kill switch
// (off and on again) behind a confirmation with a reason; every version of the set with what it
// changed, and a way back to any of them.
import { apiPath, send } from '../api/client.ts';
import type { FlagDefinition, FlagsInForce, FlagVersion } from '../api/types.ts';
import { useApi } from '../api/use-api.ts';
import { AppTabs } from '../apps/app-tabs.tsx';
import { useLive } from '../live/live-store.ts';
import { useMay } from '../session/session-context.ts';
import { Badge, Empty, Loading, PageTitle, Problem, Time } from '../ui/bits.tsx';
import { ActionButton, ConfirmDialog } from '../ui/confirm-dialog.tsx';
import { fieldChanges, targetingText, valueText } from './flag-view.ts';

export function FlagsPage({ app }: { app: string }) {
  const live = useLive();
  const lastFlagEvent = live.events.findLast((e) => e.app === app && e.type.startsWith('flags.'))?.id ?? 0;
  const version = `${live.epoch}-${lastFlagEvent}`;
  const current = useApi<FlagsInForce>(apiPath(app, 'flags'), version);
  const history = useApi<FlagVersion[]>(`${apiPath(app, 'flags', 'history')}?limit=30`, version);
  const changed = () => {
    current.reload();
    history.reload();
  };
  return (
    <>
      <PageTitle sub="Feature flags in flagd's format: a flag switched off is a rollback of one feature">
        {app}: flags
      </PageTitle>
      <AppTabs app={app} current="flags" />
      {current.error && <Problem error={current.error} />}
      {!current.data && !current.error && <Loading what="the flags" />}
      {current.data && (
        <section aria-labelledby="flags-title">
          <h2 id="flags-title">In force: version {current.data.version}</h2>
          {current.data.warnings.length > 0 && (
            <ul className="warnings">
              {current.data.warnings.map((w) => (
                <li key={w.path}>{w.message}</li>
              ))}
            </ul>
          )}
          {Object.keys(current.data.flags).length === 0 ? (
            <Empty>No flag yet: rewind flags set {app} --file flags.json makes a set.</Empty>
          ) : (
            <div className="cards">
              {Object.entries(current.data.flags).map(([key, flag]) => (
                <FlagCard key={key} app={app} flagKey={key} flag={flag} onChanged={changed} />
              ))}
            </div>
          )}
        </section>
      )}
      {history.data && history.data.length > 0 && (
        <section aria-labelledby="versions-title">
          <h2 id="versions-title">Versions</h2>
          <ol className="versions">
            {history.data.map((v) => (
              <VersionEntry
                key={v.version}
                app={app}
                version={v}
                current={current.data?.version}
                onChanged={changed}
              />
            ))}
          </ol>
        </section>
      )}
    </>
  );
}

function FlagCard({
  app,
  flagKey,
  flag,
  onChanged,
}: {
  app: string;
  flagKey: string;
  flag: FlagDefinition;
  onChanged: () => void;
}) {
  const enabled = flag.state === 'ENABLED';
  const action = enabled ? 'disable' : 'enable';
  const may = useMay(`POST /api/v1/apps/{app}/flags/{key}/${action}`, app);
  return (
    <article className="card flag" data-testid={`flag-${flagKey}`}>
      <header>
        <h3>{flagKey}</h3>
        <Badge tone={enabled ? 'ok' : 'bad'}>{enabled ? 'enabled' : 'disabled'}</Badge>
      </header>
      <dl className="facts">
        <div>
          <dt>Variants</dt>
          <dd>
            {Object.entries(flag.variants).map(([name, value]) => (
              <span key={name} className="variant">
                {name} = <code>{valueText(value)}</code>
                {name === flag.defaultVariant && <span className="quiet"> (default)</span>}
              </span>
            ))}
          </dd>
        </div>
        <div>
          <dt>Who gets what</dt>
          <dd>
            {enabled ? targetingText(flag) : `nobody: the flag is off, everyone gets the code's default`}
          </dd>
        </div>
      </dl>
      {flag.targeting && targetingText(flag) === 'rule' && (
        <pre className="json">{JSON.stringify(flag.targeting, null, 2)}</pre>
      )}
      {may && (
        <ActionButton
          label={enabled ? 'Switch off' : 'Switch on'}
          testId={`flag-toggle-${flagKey}`}
          danger={enabled}
          dialog={(close) => (
            <ConfirmDialog
              title={`${enabled ? 'Switch off' : 'Switch on'} ${flagKey}`}
              confirmLabel={enabled ? 'Switch off' : 'Switch on'}
              danger={enabled}
              reason="required"
              onClose={close}
              onConfirm={async (reason) => {
                await send('POST', apiPath(app, 'flags', flagKey, action), { reason });
                onChanged();
              }}
            >
              <p>
                {enabled
                  ? `A kill switch: ${flagKey} is off for everyone within a second, the release keeps serving, and an incident opens.`
                  : `${flagKey} is served again as its targeting says.`}{' '}
                A new flag-set version records it.
              </p>
            </ConfirmDialog>
          )}
        />
      )}
    </article>
  );
}

function VersionEntry({
  app,
  version: v,
  current,
  onChanged,
}: {
  app: string;
  version: FlagVersion;
  current: number | undefined;
  onChanged: () => void;
}) {
  const may = useMay('POST /api/v1/apps/{app}/flags/rollback', app);
  return (
    <li className="version" data-testid={`flag-version-${v.version}`}>
      <header>
        <strong>v{v.version}</strong> <Time at={v.createdAt} /> by {v.author}
        {v.copiedFrom !== null && <span className="quiet"> · copy of v{v.copiedFrom}</span>}
        {v.version === current && <Badge tone="ok">in force</Badge>}
      </header>
      {v.reason && <p className="reason">{v.reason}</p>}
      <ul className="flag-changes">
        {v.diff.map((c) => (
          <li key={c.flag}>
            <code>{c.flag}</code> {c.change}
            <ul>
              {fieldChanges(c).map((f) => (
                <li key={f.field}>
                  {f.field}: <code>{f.before}</code> → <code>{f.after}</code>
                </li>
              ))}
            </ul>
          </li>
        ))}
      </ul>
      {may && v.version !== current && (
        <ActionButton
          label={`Roll back to v${v.version}`}
          testId={`flag-rollback-${v.version}`}
          dialog={(close) => (
            <ConfirmDialog
              title={`Roll the flags back to version ${v.version}`}
              confirmLabel="Roll back"
              reason="required"
              onClose={close}
              onConfirm={async (reason) => {
                await send('POST', apiPath(app, 'flags', 'rollback'), { toVersion: v.version, reason });
                onChanged();
              }}
            >
              <p>A new version copies version {v.version} into force.</p>
            </ConfirmDialog>
          )}
        />
      )}
    </li>
  );
}
