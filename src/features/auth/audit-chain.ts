// The audit trail's hash chain: each entry's hash covers the previous entry's hash and its own
// content, so editing, removing or reordering an entry breaks every hash after it.
import { createHash } from 'node:crypto';
import type { AuditRecord, NewAuditEntry } from '../../store/types.ts';

/** The fields an entry's hash covers, in a fixed order. */
function canonical(e: NewAuditEntry): string {
  return JSON.stringify([
    e.at,
    e.actor,
    e.role,
    e.remote,
    e.method,
    e.route,
    e.app,
    e.revision,
    e.outcome,
    e.status,
    e.reason,
  ]);
}

export function auditHash(prevHash: string, entry: NewAuditEntry): string {
  return createHash('sha256').update(prevHash).update('\n').update(canonical(entry)).digest('hex');
}

export type ChainVerdict =
  | { readonly ok: true; readonly entries: number }
  | { readonly ok: false; readonly entries: number; readonly id: number; readonly problem: string };

/** Checks a whole chain, oldest first, from the first entry ever written (prevHash = genesis). */
export function verifyAuditChain(entries: readonly AuditRecord[], genesis: string): ChainVerdict {
  let prev = genesis;
  for (const e of entries) {
    if (e.prevHash !== prev)
      return {
        ok: false,
        entries: entries.length,
        id: e.id,
        problem: `entry ${e.id} follows ${e.prevHash.slice(0, 12)}, but the entry before it hashes to ${prev.slice(0, 12)}: an entry before it was removed or edited`,
      };
    const expected = auditHash(e.prevHash, e);
    if (e.hash !== expected)
      return {
        ok: false,
        entries: entries.length,
        id: e.id,
        problem: `entry ${e.id} does not match its hash: it was edited after it was written`,
      };
    prev = e.hash;
  }
  return { ok: true, entries: entries.length };
}
