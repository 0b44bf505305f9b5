// The audit trail: every mutating API request, allowed or refused, appended to a hash chain.
import type { Logger } from '../../shared/logger.ts';
import { AUDIT_GENESIS, type AuditRecord, type NewAuditEntry, type Store } from '../../store/types.ts';
import { auditHash, type ChainVerdict, verifyAuditChain } from './audit-chain.ts';

export class AuditService {
  readonly #store: Store;
  readonly #log: Logger | undefined;
  #tail: Promise<unknown> = Promise.resolve();

  constructor(deps: { store: Store; log?: Logger }) {
    this.#store = deps.store;
    this.#log = deps.log;
  }

  /** Appends one entry. Appends from this process go one at a time, in call order. */
  record(entry: NewAuditEntry): Promise<AuditRecord | undefined> {
    const next = this.#tail.then(() =>
      this.#store.audit
        .append(entry, (prev) => auditHash(prev, entry))
        .catch((err: Error) => {
          this.#log?.error({ err, route: entry.route }, 'audit entry not written');
          return undefined;
        }),
    );
    this.#tail = next;
    return next;
  }

  /** Resolves once every entry recorded so far is written. */
  async flush(): Promise<void> {
    await this.#tail;
  }

  list(filter: { app?: string; sinceAt?: number; limit?: number } = {}): Promise<AuditRecord[]> {
    return this.#store.audit.list(filter);
  }

  /** Checks the whole chain from its first entry. */
  async verify(): Promise<ChainVerdict> {
    return verifyAuditChain(await this.#store.audit.list(), AUDIT_GENESIS);
  }
}
