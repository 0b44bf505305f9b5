// Traffic routers by name, picked from rewind.yaml (the built-in proxy by default).
import type { AgentClient } from '../builtin/agent/agent-client.ts';
import { BuiltinTrafficRouter } from '../builtin/traffic-router/builtin-traffic-router.ts';
import type { TrafficRouter } from './types.ts';

export const trafficRouters: Record<string, (deps: { agent: AgentClient }) => TrafficRouter> = {
  builtin: ({ agent }) => new BuiltinTrafficRouter(agent),
};
