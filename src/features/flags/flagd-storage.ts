// The one place that hands a flag set to @openfeature/flagd-core. Parsing uses it to prove a set loads
// the way flagd loads it; the evaluator uses it to evaluate. Both load with flagd's JSON schema on.

import type { Logger } from '@openfeature/core';
import { MemoryStorage } from '@openfeature/flagd-core';

// flagd-core logs bad targeting with warn and evaluation trouble with debug; Rewind reports both as
// data (FlagSetError at parse time, a resolution with an errorCode at evaluation time) instead.
const silent: Logger = { error() {}, warn() {}, info() {}, debug() {} };

/**
 * Loads a flagd flag-set document (JSON text) with strict schema validation.
 * Throws flagd-core's ParseError when the schema or flagd's structural checks reject it.
 */
export function loadFlagdStorage(document: string): MemoryStorage {
  const storage = new MemoryStorage(silent);
  storage.setConfigurations(document, true);
  return storage;
}

export { silent as silentFlagdLogger };
