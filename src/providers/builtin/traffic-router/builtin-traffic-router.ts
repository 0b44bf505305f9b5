// The built-in proxy as a TrafficRouter: tables go to the agent, which swaps them into every
// proxy worker at once.

import type { TrafficApplied, TrafficRouter } from '../../traffic/types.ts';
import type { AgentClient } from '../agent/agent-client.ts';
import type { RouteTable } from '../proxy/types.ts';

export class BuiltinTrafficRouter implements TrafficRouter {
  readonly #agent: AgentClient;

  constructor(agent: AgentClient) {
    this.#agent = agent;
  }

  apply(table: RouteTable): Promise<TrafficApplied> {
    return this.#agent.setRoutes(table);
  }

  current(app: string): Promise<RouteTable | undefined> {
    return this.#agent.routes(app);
  }

  remove(app: string): Promise<void> {
    return this.#agent.deleteRoutes(app);
  }

  inflight(app: string, revision: number): Promise<number> {
    return this.#agent.inflight(app, revision);
  }
}
