// Rolling an app back by hand: to the revision that served before (the server's choice) or one
// picked from the history, with the reason that goes into the audit trail and the incident.
import { useState } from 'react';
import { apiPath, send } from '../api/client.ts';
import type { RevisionEntry, Rollout } from '../api/types.ts';
import { useApi } from '../api/use-api.ts';
import { revisionLabel } from '../format.ts';
import { navigate } from '../router/router.tsx';
import { paths } from '../router/routes.ts';
import { useMay } from '../session/session-context.ts';
import { ActionButton, ConfirmDialog } from '../ui/confirm-dialog.tsx';

export function RollbackButton({
  app,
  stable,
  active,
  suggested,
}: {
  app: string;
  stable: number | null;
  active: Rollout | null;
  /** The revision to offer first; none: the server picks the one that served before. */
  suggested?: number;
}) {
  const may = useMay('POST /api/v1/apps/{app}/rollback', app);
  if (!may || (stable === null && !active)) return null;
  return (
    <ActionButton
      label={active ? 'Roll back (abort)' : 'Roll back'}
      testId="action-rollback"
      danger
      dialog={(close) => (
        <RollbackDialog app={app} stable={stable} active={active} suggested={suggested} close={close} />
      )}
    />
  );
}

function RollbackDialog({
  app,
  stable,
  active,
  suggested,
  close,
}: {
  app: string;
  stable: number | null;
  active: Rollout | null;
  suggested: number | undefined;
  close: () => void;
}) {
  const [target, setTarget] = useState(suggested === undefined ? '' : String(suggested));
  const revisions = useApi<RevisionEntry[]>(active ? null : `${apiPath(app, 'revisions')}?limit=30`);
  const choices = (revisions.data ?? []).filter((r) => r.number !== stable);
  return (
    <ConfirmDialog
      title={`Roll back ${app}`}
      confirmLabel="Roll back"
      danger
      reason="required"
      onClose={close}
      onConfirm={async (reason) => {
        const body = target ? { toRevision: Number(target), reason } : { reason };
        const started = await send<Rollout>('POST', apiPath(app, 'rollback'), body);
        if (started) navigate(paths.rollout(app, started.id));
      }}
    >
      {active ? (
        <p>
          A rollout to revision {active.toRevision} is in progress: rolling back aborts it and puts revision{' '}
          {active.fromRevision} back.
        </p>
      ) : (
        <>
          <p>
            A new revision copying the chosen one is rolled out (a traffic switch when its processes are still
            warm). An incident opens.
          </p>
          <label className="field">
            <span>Roll back to</span>
            <select value={target} onChange={(e) => setTarget(e.target.value)}>
              <option value="">the revision that served before revision {stable}</option>
              {choices.map((r) => (
                <option key={r.number} value={r.number}>
                  {revisionLabel(r.number, r.version)}
                  {r.outcome ? ` (${r.outcome})` : ''}
                </option>
              ))}
            </select>
          </label>
        </>
      )}
    </ConfirmDialog>
  );
}
