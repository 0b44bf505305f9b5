// The built-in proxy as a TrafficRouter (`traffic: { type: builtin }`): a plan becomes a proxy
// routing table (composeTable: the runtime's instance addresses, filtered by the health source),
// which goes to the agent, which swaps it into every proxy worker at once.

import type { Logger } from '../../../shared/logger.ts';
import type { AppSpec } from '../../../spec/app-spec.ts';
import type { HealthSource } from '../../health-source.ts';
import type { Instance } from '../../runtime.ts';
import type { TrafficApplied, TrafficInForce, TrafficPlan, TrafficRouter } from '../../traffic-router.ts';
import type { AgentClient } from '../agent/agent-client.ts';
import type { RouteTable } from '../proxy/types.ts';
import { composeTable } from './compose-table.ts';

const UNCHANGED: Promise<TrafficApplied> = Promise.resolve({ changed: false, inForceAt: null });

/** Table versions: increasing across controller restarts (the agent keeps the last one). */
let tableVersion = Date.now();

export class BuiltinTrafficRouter implements TrafficRouter {
  readonly #agent: AgentClient;
  readonly #app: AppSpec;
  readonly #health: HealthSource;
  readonly #log: Logger;
  readonly #verdict: HealthSource['verdict'];
  /** The backends (and maintenance mode) last put in force, serialised: an unchanged tick costs no round trip. */
  #lastKey: string | null = null;

  constructor(deps: { agent: AgentClient; app: AppSpec; health: HealthSource; log: Logger }) {
    this.#agent = deps.agent;
    this.#app = deps.app;
    this.#health = deps.health;
    this.#log = deps.log;
    this.#verdict = (id) => this.#health.verdict(id);
  }

  apply(plan: TrafficPlan, observed: readonly Instance[]): Promise<TrafficApplied> {
    const table = composeTable(this.#app, plan, observed, this.#verdict, 0);
    const key = JSON.stringify([table.backends, table.maintenance ?? null]);
    if (key === this.#lastKey) return UNCHANGED;
    return this.#agent.setRoutes({ ...table, version: ++tableVersion }).then(({ inForceAt }) => {
      this.#lastKey = key;
      this.#log.info(
        {
          app: plan.app,
          backends: table.backends.map((b) => `${b.revision}:${b.weight}%x${b.upstreams.length}`),
          ...(table.maintenance && {
            maintenance: `503, Retry-After ${table.maintenance.retryAfterSeconds}`,
          }),
        },
        'routes applied',
      );
      return { changed: true, inForceAt };
    });
  }

  async current(app: string): Promise<TrafficInForce | undefined> {
    const table = await this.#agent.routes(app);
    return (
      table && {
        revisions: table.backends.map((b) => ({
          revision: b.revision,
          weight: b.weight,
          instances: b.upstreams.length,
        })),
      }
    );
  }

  /** The proxy's own table, as the agent serves it. */
  table(app: string): Promise<RouteTable | undefined> {
    return this.#agent.routes(app);
  }

  resync(_app: string): void {
    this.#lastKey = null;
  }

  remove(app: string): Promise<void> {
    this.#lastKey = null;
    return this.#agent.deleteRoutes(app);
  }

  inflight(app: string, revision: number): Promise<number> {
    return this.#agent.inflight(app, revision);
  }
}
