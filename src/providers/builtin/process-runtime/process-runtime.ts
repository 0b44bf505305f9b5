// The `process` runtime provider, controller side: app instances are child processes of the
// node agent (../agent/), reached over its Unix socket. The controller can die and restart at
// any time; the agent and the instances keep running and are adopted by the next controller.

import path from 'node:path';
import {
  type Instance,
  type InstanceSpec,
  type LogLine,
  type Runtime,
  type UsageQuery,
  type UsageRead,
  usageReadError,
} from '../../runtime.ts';
import { type AgentClient, type EnsureAgentOptions, ensureAgent } from '../agent/agent-client.ts';
import { LOCAL_HOST } from './local-host.ts';

export class ProcessRuntime implements Runtime {
  readonly client: AgentClient;

  constructor(client: AgentClient) {
    this.client = client;
  }

  /** Adopts the data dir's agent or starts one. */
  static async connect(
    dataDir: string,
    options?: EnsureAgentOptions,
  ): Promise<{ runtime: ProcessRuntime; adopted: boolean }> {
    const { client, adopted } = await ensureAgent(dataDir, options);
    return { runtime: new ProcessRuntime(client), adopted };
  }

  start(spec: InstanceSpec): Promise<Instance> {
    // The agent's cwd is its data dir: resolve relative paths here, against the controller's.
    return this.client.startInstance({ ...spec, cwd: path.resolve(spec.cwd) }).then(withAddress);
  }

  stopRevision(app: string, revision: number): Promise<void> {
    return this.client.stopRevision(app, revision);
  }

  list(app?: string): Promise<Instance[]> {
    return this.client.listInstances(app).then(withAddresses);
  }

  logs(app: string, options: { revision?: number; tail?: number }): Promise<LogLine[]> {
    return this.client.logs(app, options);
  }

  /** Measured by the agent, which owns the processes and captures their output. */
  usage(app: string, query: UsageQuery): Promise<UsageRead> {
    return this.client.usage(app, query).catch(usageReadError);
  }

  /** Drops the connection; the agent and its instances keep running. */
  close(): void {
    this.client.close();
  }
}

/** An agent started by an older Rewind (adopted across an upgrade) sends no address: loopback. */
function withAddress(i: Instance): Instance {
  return i.address ? i : { ...i, address: { host: LOCAL_HOST, port: i.port } };
}

function withAddresses(list: Instance[]): Instance[] {
  return list.every((i) => i.address) ? list : list.map(withAddress);
}

export function createProcessRuntime(client: AgentClient): ProcessRuntime {
  return new ProcessRuntime(client);
}
