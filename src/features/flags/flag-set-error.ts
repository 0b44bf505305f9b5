import { RewindError } from '../../shared/errors.ts';

/**
 * A flag set Rewind will not load. `path` names the field (`flags.checkout.defaultVariant`), `value`
 * holds what was found there and `fix` says what to write instead; the message repeats all three.
 * Maps to 400 VALIDATION_FAILED through the shared error catalogue.
 */
export class FlagSetError extends RewindError {
  readonly path: string;
  readonly value: unknown;
  readonly fix: string;
  constructor(path: string, value: unknown, problem: string, fix: string) {
    super('VALIDATION_FAILED', `${path}: ${problem} (found ${preview(value)}). Fix: ${fix}`, {
      path,
      value,
      fix,
    });
    this.name = 'FlagSetError';
    this.path = path;
    this.value = value;
    this.fix = fix;
  }
}

function preview(value: unknown): string {
  if (value === undefined) return 'nothing';
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** `flags` + `checkout` -> `flags.checkout`; indexes as `[0]`. */
export function at(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return path === '' ? key : `${path}.${key}`;
}
