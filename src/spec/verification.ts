// One line of a verification checklist (after a rollback, in a drill, of a database): what was
// checked and what was found. "Say only what was checked": a check that did not run is
// notChecked, never passed.

export interface VerificationCheck {
  readonly name: string;
  /** False for a check that failed and for one that could not be made (notChecked). */
  readonly passed: boolean;
  /** The check did not run (nothing recorded to compare with): not a pass, not a measured failure. */
  readonly notChecked?: boolean;
  readonly detail: string;
}

/** The checks that ran and failed; one that could not run (notChecked) is not among them. */
export function failedChecks(checks: readonly VerificationCheck[]): VerificationCheck[] {
  return checks.filter((c) => !c.passed && !c.notChecked);
}

/** A checklist passes when no check failed: a check not made is listed as such, not failed. */
export function checklistPassed(checks: readonly VerificationCheck[]): boolean {
  return failedChecks(checks).length === 0;
}
