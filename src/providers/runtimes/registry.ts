// Runtimes by name (the process runtime by default; Kubernetes slots in here).
import type { AgentClient } from '../builtin/agent/agent-client.ts';
import { ProcessRuntime } from '../builtin/process-runtime/process-runtime.ts';
import type { Runtime } from './types.ts';

export const runtimes: Record<string, (deps: { agent: AgentClient }) => Runtime> = {
  process: ({ agent }) => new ProcessRuntime(agent),
};
