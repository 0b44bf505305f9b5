import { RewindError } from '../../shared/errors.ts';

/**
 * A flag set Rewind will not load. `path` names the field (`flags.checkout.defaultVariant`), `value`
 * holds what was found there and `fix` says what to write instead; the message repeats all three.
 * `others` are the further refusals of the same set, so that one attempt reports every problem.
 * Maps to 400 VALIDATION_FAILED through the shared error catalogue.
 */
export class FlagSetError extends RewindError {
  readonly path: string;
  readonly value: unknown;
  readonly fix: string;
  readonly problem: string;
  constructor(
    path: string,
    value: unknown,
    problem: string,
    fix: string,
    others: readonly FlagSetError[] = [],
  ) {
    const one = `${path}: ${problem} (found ${preview(value)}). Fix: ${fix}`;
    const message = others.length
      ? `${others.length + 1} problems:\n- ${[one, ...others.map((o) => o.message)].join('\n- ')}`
      : one;
    super('VALIDATION_FAILED', message, {
      path,
      value,
      fix,
      ...(others.length && { problems: [one, ...others.map((o) => o.message)] }),
    });
    this.name = 'FlagSetError';
    this.path = path;
    this.value = value;
    this.fix = fix;
    this.problem = problem;
  }

  /** One error for all of `errors` (at least one): the first one's fields, every message. */
  static all(errors: readonly FlagSetError[]): FlagSetError {
    const [first, ...others] = errors as [FlagSetError, ...FlagSetError[]];
    return others.length === 0
      ? first
      : new FlagSetError(first.path, first.value, first.problem, first.fix, others);
  }
}

/** Where a check sends a problem: refusals stop the set, warnings are kept with it. */
export type Report = (problem: FlagSetError) => void;

export function preview(value: unknown): string {
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
