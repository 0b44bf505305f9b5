// Flag sets per app: every change is a new immutable version in the store (who, when, why, the
// diff), and the version in force is held in memory with its evaluator, so that OFREP answers
// without touching the store and a change is served from the next request on. Controllers that
// share a PostgreSQL store follow each other's versions through the store's change feed (follow()).
import { RewindError } from '../../shared/errors.ts';
import type { FlagSetRecord, Store } from '../../store/types.ts';
import { createFlagEvaluator, type FlagEvaluator } from './flag-evaluator.ts';
import {
  diffFlagSets,
  type FlagChange,
  type FlagSet,
  type FlagSetWarning,
  type FlagState,
  parseFlagSet,
  setFlagState,
  warningsOf,
  withFlag,
} from './flag-set.ts';

export interface FlagsInForce {
  /** 0 while the app has no flag set yet (an empty one is served). */
  readonly version: number;
  readonly set: FlagSet;
  readonly evaluator: FlagEvaluator;
}

export interface ChangeMeta {
  readonly author: string;
  readonly reason?: string | null;
}

export interface FlagChangeResult {
  readonly record: FlagSetRecord;
  readonly changes: readonly FlagChange[];
  /** What flagd loads but objects to, in the new version (warningsOf). */
  readonly warnings: readonly FlagSetWarning[];
}

const EMPTY: FlagSet = parseFlagSet({ flags: {} });

export class FlagService {
  readonly #store: Store;
  readonly #inForce = new Map<string, FlagsInForce>();
  readonly #loading = new Map<string, Promise<FlagsInForce>>();
  readonly #onChange: (app: string, result: FlagChangeResult) => void;
  readonly #inForceHook: (app: string, now: FlagsInForce) => Promise<void> | void;
  /** Per-app chain so that two changes never read the same base version. */
  readonly #writes = new Map<string, Promise<unknown>>();
  readonly #inForceListeners = new Set<(app: string, now: FlagsInForce) => void>();

  constructor(deps: {
    store: Store;
    onChange?: (app: string, result: FlagChangeResult) => void;
    /**
     * Called whenever a set comes into force (first loaded, or changed), in version order per app; a
     * change returns only once the promise settles, so its caller reads its write wherever this hook
     * puts the set (the OFREP worker). Must not reject.
     */
    onInForce?: (app: string, now: FlagsInForce) => Promise<void> | void;
  }) {
    this.#store = deps.store;
    this.#onChange = deps.onChange ?? (() => {});
    this.#inForceHook = deps.onInForce ?? (() => {});
  }

  /** The flag set in force, cached; the first call per app reads the newest version from the store. */
  current(app: string): FlagsInForce | Promise<FlagsInForce> {
    const hit = this.#inForce.get(app);
    if (hit) return hit;
    let loading = this.#loading.get(app);
    if (!loading) {
      loading = this.#store.flagSets.latest(app).then((record) => {
        const loaded = record
          ? this.#toInForce(record)
          : { version: 0, set: EMPTY, evaluator: createFlagEvaluator(EMPTY) };
        if (!this.#inForce.has(app)) {
          this.#inForce.set(app, loaded);
          void this.#inForceHook(app, loaded);
        }
        this.#loading.delete(app);
        return this.#inForce.get(app)!;
      });
      this.#loading.set(app, loading);
    }
    return loading;
  }

  /**
   * Calls `listener` whenever an app's flag set in force changes: a change made here, or one made by
   * another controller on the same store and picked up by follow(). Returns the unsubscribe.
   */
  onInForce(listener: (app: string, now: FlagsInForce) => void): () => void {
    this.#inForceListeners.add(listener);
    return () => this.#inForceListeners.delete(listener);
  }

  /**
   * Follows the versions other controllers write to the shared store (a no-op on SQLite, which
   * only this process writes). Returns the function that stops following.
   */
  follow(
    onError: (err: unknown, app: string) => void = () => {},
    onLost: (reason: string) => void = () => {},
  ): () => void {
    const reload = (app: string) => this.refresh(app).catch((err) => onError(err, app));
    return this.#store.flagSets.watch({
      lost: onLost,
      change: (app, version) => {
        if ((this.#inForce.get(app)?.version ?? 0) < version) void reload(app);
      },
      resync: () => {
        for (const app of this.#inForce.keys()) void reload(app);
      },
    });
  }

  /**
   * Puts the store's newest version of the app in force if it is newer than the one held. Apps not
   * held yet are left alone: their first current() reads the newest version anyway.
   */
  async refresh(app: string): Promise<void> {
    if (!this.#inForce.has(app)) return;
    const record = await this.#store.flagSets.latest(app);
    const held = this.#inForce.get(app);
    // Versions only grow: a slower reload never replaces a newer version already in force.
    if (!record || !held || held.version >= record.version) return;
    await this.#setInForce(app, this.#toInForce(record));
  }

  /** Replaces the whole flag set (a flagd document, as JSON text or a value). Throws FlagSetError. */
  replace(app: string, document: unknown, meta: ChangeMeta): Promise<FlagChangeResult> {
    const next = parseFlagSet(document);
    return this.#change(app, meta, () => next);
  }

  /** Adds or replaces one flag. */
  setFlag(app: string, key: string, definition: unknown, meta: ChangeMeta): Promise<FlagChangeResult> {
    return this.#change(app, meta, (set) => withFlag(set, key, definition));
  }

  /** Enables or disables one flag; an unknown key is FLAG_NOT_FOUND. */
  setState(app: string, key: string, state: FlagState, meta: ChangeMeta): Promise<FlagChangeResult> {
    return this.#change(app, meta, (set) => {
      if (!set.flags[key]) throw this.#unknownFlag(app, key, set);
      return setFlagState(set, key, state);
    });
  }

  /** A new version that copies version `to` (history only grows). */
  async rollback(app: string, to: number, meta: ChangeMeta): Promise<FlagChangeResult> {
    const target = await this.#store.flagSets.get(app, to);
    if (!target) {
      const known = (await this.#store.flagSets.list(app, 20)).map((f) => f.version).join(', ') || 'none';
      throw new RewindError(
        'FLAG_SET_NOT_FOUND',
        `app ${app} has no flag-set version ${to}; it has: ${known}`,
        {
          app,
          version: to,
        },
      );
    }
    return this.#change(app, meta, () => parseFlagSet(target.document), to);
  }

  /**
   * Puts the flag set of version `to` back in force when another one is (a rollback of a revision
   * that carried it); no new version when it already is.
   */
  async restore(app: string, to: number, meta: ChangeMeta): Promise<FlagChangeResult | null> {
    const now = await this.current(app);
    const target = await this.#store.flagSets.get(app, to);
    if (!target || now.version === to) return null;
    if (diffFlagSets(now.set, parseFlagSet(target.document)).length === 0) return null;
    return this.rollback(app, to, meta);
  }

  /** One flag's definition in the set in force; an unknown key is FLAG_NOT_FOUND. */
  async flag(app: string, key: string) {
    const now = await this.current(app);
    const definition = now.set.flags[key];
    if (!definition) throw this.#unknownFlag(app, key, now.set);
    return { key, version: now.version, definition };
  }

  history(app: string, limit = 50): Promise<FlagSetRecord[]> {
    return this.#store.flagSets.list(app, limit);
  }

  async version(app: string, version: number): Promise<FlagSetRecord> {
    const record = await this.#store.flagSets.get(app, version);
    if (!record)
      throw new RewindError('FLAG_SET_NOT_FOUND', `app ${app} has no flag-set version ${version}`, {
        app,
        version,
      });
    return record;
  }

  #unknownFlag(app: string, key: string, set: FlagSet): RewindError {
    const known = Object.keys(set.flags).join(', ') || 'none';
    return new RewindError('FLAG_NOT_FOUND', `app ${app} has no flag "${key}"; its flags: ${known}`, {
      app,
      flag: key,
    });
  }

  /** Puts `now` in force: the listeners (sync streams) hear of it, and the hook (OFREP worker) gets it. */
  #setInForce(app: string, now: FlagsInForce): Promise<void> | void {
    this.#inForce.set(app, now);
    for (const listener of this.#inForceListeners) listener(app, now);
    return this.#inForceHook(app, now);
  }

  #toInForce(record: FlagSetRecord): FlagsInForce {
    const set = parseFlagSet(record.document);
    return { version: record.version, set, evaluator: createFlagEvaluator(set) };
  }

  #change(
    app: string,
    meta: ChangeMeta,
    edit: (set: FlagSet) => FlagSet,
    copiedFrom: number | null = null,
  ): Promise<FlagChangeResult> {
    const run = async () => {
      // Another controller on the same store may have written a version that has not reached
      // this one yet: edit the newest.
      await this.refresh(app);
      const base = await this.current(app);
      const next = edit(base.set);
      // Build the evaluator before storing: a set flagd cannot load never becomes a version.
      const evaluator = createFlagEvaluator(next, base.evaluator);
      const changes = diffFlagSets(base.set, next);
      const warnings = warningsOf(next);
      const record = await this.#store.flagSets.create({
        app,
        document: next,
        author: meta.author,
        reason: meta.reason ?? null,
        diff: changes,
        copiedFrom,
        warnings,
      });
      if ((this.#inForce.get(app)?.version ?? 0) < record.version)
        await this.#setInForce(app, { version: record.version, set: next, evaluator });
      const result = { record, changes, warnings };
      this.#onChange(app, result);
      return result;
    };
    const previous = this.#writes.get(app) ?? Promise.resolve();
    const result = previous.then(run, run);
    this.#writes.set(
      app,
      result.catch(() => {}),
    );
    return result;
  }
}
