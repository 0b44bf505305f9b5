// A canary's steps as rewind.yaml writes them, and their check.

export type CanaryStepSpec =
  | { readonly setWeight: number }
  | { readonly pause: number | null }
  | { readonly analysis: number };

/** Checks canary steps: weights in 0..100, never decreasing, ending at 100. Returns a problem or null. */
export function canaryStepsProblem(steps: readonly CanaryStepSpec[]): string | null {
  let last = 0;
  for (const [i, s] of steps.entries()) {
    if (!('setWeight' in s)) continue;
    if (s.setWeight < last)
      return `steps.${i}: setWeight ${s.setWeight} is below the previous ${last}; weights only grow`;
    last = s.setWeight;
  }
  return last === 100 ? null : `the steps end at ${last}% and never reach 100%; add "- setWeight: 100"`;
}
