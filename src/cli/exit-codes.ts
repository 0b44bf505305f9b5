// Exit codes a CI pipeline can act on. Documented in docs/cli.md; keep both in step.
export const EXIT = {
  OK: 0,
  /** Bad input, unknown app or revision, server unreachable: nothing was changed. */
  ERROR: 1,
  /** The new revision took traffic, misbehaved, and the previous one was put back. */
  ROLLED_BACK: 2,
  /** The new revision never took traffic (did not start, never healthy, a check failed). */
  FAILED: 3,
  /** --wait gave up before the rollout ended; it goes on. */
  TIMEOUT: 4,
  /** Another rollout of the app is in progress. */
  CONFLICT: 5,
} as const;
