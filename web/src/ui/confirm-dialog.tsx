// The confirmation of every change the dashboard makes: a modal <dialog> that says what will
// happen, asks for the reason that goes into the audit trail, and shows the API's refusal if any.
// The first field takes the focus; Esc or Cancel closes it without a request.
import { type FormEvent, type ReactNode, useEffect, useId, useRef, useState } from 'react';

export interface ConfirmDialogProps {
  readonly title: string;
  readonly confirmLabel: string;
  readonly danger?: boolean;
  /** required: the change waits for one; none: the route takes no reason. */
  readonly reason: 'required' | 'optional' | 'none';
  /** What will happen, and any fields of the change (they come before the reason). */
  readonly children?: ReactNode;
  readonly onConfirm: (reason: string) => Promise<unknown>;
  readonly onClose: () => void;
}

export function ConfirmDialog(props: ConfirmDialogProps) {
  const { title, confirmLabel, danger, reason, children, onConfirm, onClose } = props;
  const ref = useRef<HTMLDialogElement>(null);
  const [text, setText] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const id = useId();

  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (!dialog.open) dialog.showModal();
    dialog.querySelector<HTMLElement>('textarea, input, select, button[data-first]')?.focus();
  }, []);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (busy) return;
    if (reason === 'required' && !text.trim()) {
      setError('Say why: the reason goes into the audit trail.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await onConfirm(text.trim());
      onClose();
    } catch (err) {
      setError((err as Error).message);
      setBusy(false);
    }
  };

  return (
    <dialog
      ref={ref}
      className="dialog"
      aria-labelledby={`${id}-title`}
      onCancel={(e) => {
        if (busy) e.preventDefault();
      }}
      onClose={onClose}
    >
      <form onSubmit={submit}>
        <h2 id={`${id}-title`}>{title}</h2>
        {children}
        {reason !== 'none' && (
          <label className="field">
            <span>Reason{reason === 'optional' ? ' (optional)' : ''}</span>
            <textarea
              data-testid="reason"
              rows={3}
              maxLength={500}
              required={reason === 'required'}
              value={text}
              onChange={(e) => setText(e.target.value)}
              placeholder="What people reading the audit trail and the incident should know"
            />
          </label>
        )}
        {error && (
          <p className="problem" role="alert">
            {error}
          </p>
        )}
        <div className="dialog-buttons">
          <button
            type="button"
            onClick={onClose}
            disabled={busy}
            data-first={reason === 'none' ? '' : undefined}
          >
            Cancel
          </button>
          <button
            type="submit"
            className={danger ? 'danger' : 'primary'}
            data-testid="confirm"
            disabled={busy}
          >
            {busy ? 'Working…' : confirmLabel}
          </button>
        </div>
      </form>
    </dialog>
  );
}

/** A button that opens a ConfirmDialog; `dialog` gets the function that closes it. */
export function ActionButton({
  label,
  testId,
  danger,
  dialog,
}: {
  label: string;
  testId: string;
  danger?: boolean;
  dialog: (close: () => void) => ReactNode;
}) {
  const [open, setOpen] = useState(false);
  return (
    <>
      <button
        type="button"
        className={danger ? 'danger' : undefined}
        data-testid={testId}
        onClick={() => setOpen(true)}
      >
        {label}
      </button>
      {open && dialog(() => setOpen(false))}
    </>
  );
}
