// Runtimes by name (the process runtime by default; Kubernetes slots in here).
import type { AgentClient } from '../../agent/agent-client.ts';
import { ProcessRuntime } from './process/process-runtime.ts';
import type { Runtime } from './types.ts';

export const runtimes: Record<string, (deps: { agent: AgentClient }) => Runtime> = {
  process: ({ agent }) => new ProcessRuntime(agent),
};
