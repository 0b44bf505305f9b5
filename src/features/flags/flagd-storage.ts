// The one place that hands a flag set to @openfeature/flagd-core. Parsing uses it to prove a set loads
// the way flagd loads it; the evaluator uses it to evaluate. Both load with flagd's JSON schema on.

import type { Logger } from '@openfeature/core';
import { MemoryStorage } from '@openfeature/flagd-core';

// flagd-core logs bad targeting with warn and evaluation trouble with debug; Rewind reports both as
// data (FlagSetError at parse time, a resolution with an errorCode at evaluation time) instead.
const silent: Logger = { error() {}, warn() {}, info() {}, debug() {} };

/**
 * Loads a flagd flag-set document (JSON text) the way flagd does: schema violations do not stop it
 * (`strict` makes them throw, to read them), a targeting rule that does not compile evaluates to
 * PARSE_ERROR. Throws flagd-core's ParseError only for what flagd refuses: a state other than
 * ENABLED/DISABLED, a defaultVariant that names no variant, a flag that is not an object.
 */
export function loadFlagdStorage(document: string, strict = false, logger: Logger = silent): MemoryStorage {
  const storage = new MemoryStorage(logger);
  storage.setConfigurations(document, strict);
  return storage;
}

export { silent as silentFlagdLogger };
