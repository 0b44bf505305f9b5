// The buttons that steer a rollout in progress (promote, pause, resume, abort), each behind a
// confirmation, shown to the sessions the API would let through and only when the state allows.
import { useState } from 'react';
import { apiPath, send } from '../api/client.ts';
import type { Rollout } from '../api/types.ts';
import { mayCall } from '../session/permissions.ts';
import { useSession } from '../session/session-context.ts';
import { ActionButton, ConfirmDialog } from '../ui/confirm-dialog.tsx';
import { COMMAND_ROUTES, commandsFor, type RolloutCommand } from './rollout-commands.ts';

export function RolloutControls({ app, rollout }: { app: string; rollout: Rollout }) {
  const session = useSession();
  const commands = commandsFor(rollout).filter((c) => mayCall(session, COMMAND_ROUTES[c], app));
  if (commands.length === 0) return null;
  return (
    <>
      {commands.map((c) => (
        <CommandButton key={c} app={app} rollout={rollout} command={c} />
      ))}
    </>
  );
}

const TEXT: Readonly<Record<RolloutCommand, { label: string; title: string; what: string }>> = {
  promote: {
    label: 'Promote',
    title: 'Promote the rollout',
    what: 'Ends the current pause: the rollout goes on to its next step.',
  },
  pause: {
    label: 'Pause',
    title: 'Pause the rollout',
    what: 'The rollout stays where it is, traffic split included, until it is resumed or promoted. Analysis goes on.',
  },
  resume: {
    label: 'Resume',
    title: 'Resume the rollout',
    what: 'The rollout goes on from the step it was paused at.',
  },
  abort: {
    label: 'Abort',
    title: 'Abort the rollout',
    what: 'All traffic goes back to the stable revision and the new processes stop. An incident opens.',
  },
};

function CommandButton({
  app,
  rollout,
  command,
}: {
  app: string;
  rollout: Rollout;
  command: RolloutCommand;
}) {
  const [full, setFull] = useState(false);
  const text = TEXT[command];
  const danger = command === 'abort';
  return (
    <ActionButton
      label={text.label}
      testId={`action-${command}`}
      danger={danger}
      dialog={(close) => (
        <ConfirmDialog
          title={text.title}
          confirmLabel={text.label}
          danger={danger}
          // The promote route takes no reason (its body is { full }).
          reason={command === 'promote' ? 'none' : command === 'abort' ? 'required' : 'optional'}
          onClose={close}
          onConfirm={(reason) =>
            send('POST', apiPath(app, command), command === 'promote' ? { full } : reason ? { reason } : {})
          }
        >
          <p>
            {text.what} Rollout of revision {rollout.toRevision} over revision{' '}
            {rollout.fromRevision ?? 'none'}.
          </p>
          {command === 'promote' && (
            <label className="check">
              <input type="checkbox" checked={full} onChange={(e) => setFull(e.target.checked)} /> Skip every
              remaining step: all traffic to revision {rollout.toRevision} now, then the bake
            </label>
          )}
        </ConfirmDialog>
      )}
    />
  );
}
