// What the controller knows about one app between ticks. Everything here can be rebuilt from the
// store and the runtime, so a restarted controller loses nothing by starting empty.
import type { AppProviders } from '../../providers/registry.ts';
import type { Instance } from '../../providers/runtime.ts';
import type { AppSpec } from '../../spec/app-spec.ts';

export interface AppContext {
  readonly spec: AppSpec;
  /** Directory of rewind.yaml: relative cwd resolve against it. */
  readonly baseDir: string;
  /**
   * The plan last put in force, serialised (null: none since the controller started or the data
   * plane restarted).
   */
  lastTableKey: string | null;
  /** Units being drained and stopped: unit -> when retirement began. */
  readonly retiring: Map<number, number>;
  /** The instances the last tick observed, and when: a rollback switches on them without asking again. */
  observed?: { readonly at: number; readonly instances: Instance[] };
  /** Instances that were up when the agent died, to start again once a new agent answers. */
  lostWithAgent?: readonly Instance[];
  /**
   * Set when this controller takes over from another leader: every instance of every revision the
   * app needs (stable, canary, the one it replaces, a warm previous one) is started once where
   * missing, since the runtime here may not run what the old leader ran.
   */
  restoreKept?: boolean;
}

/** An app under the controller: its context and the providers the composition root built for it. */
export interface ManagedApp extends AppContext {
  readonly providers: AppProviders;
}
