// What /healthz and /readyz say. Both are public (a load balancer has no token), so they say
// what is wrong in words that give nothing away: no pid, path, address or error text (those go
// to the server's log).
//
// - /healthz: is every part up? The store answers, the agent answers, every proxy worker serves.
//   The OFREP worker serves (restarted when it dies). 200 ok, or 503 degraded with the parts that
//   are not.
// - /readyz: can this server act? The store answers, the agent answers, and every app's route
//   table is in force on it (after a start or an agent restart, once the controller applied them).
//   A follower (several servers on one store) serves reads: it is ready without route tables.
// Both say the server's `role` (leader or follower) when it shares its store with others.
import type { AgentStatus } from '../providers/builtin/agent/agent-watch.ts';
import type { DataPlaneHealth } from '../providers/builtin/proxy/types.ts';

export interface HealthCheck {
  readonly ok: boolean;
  /** What is wrong, in public words; absent when ok. */
  readonly reason?: string;
}

export type Role = 'leader' | 'follower';

export interface HealthReport {
  readonly status: 'ok' | 'degraded';
  readonly role?: Role;
  readonly checks: {
    readonly store: HealthCheck;
    /** Absent in a process that runs the API without a data plane (bench/lib/api-child.ts). */
    readonly agent?: HealthCheck;
    readonly proxy?: HealthCheck & {
      readonly workers?: number;
      readonly up?: number;
      readonly restarts?: number;
    };
    /** Absent in a process that serves OFREP on the API's own loop only. */
    readonly ofrep?: HealthCheck & { readonly restarts: number };
  };
}

export interface ReadyReport {
  readonly ready: boolean;
  readonly role?: Role;
  readonly reasons: readonly string[];
}

export interface HealthSources {
  /** Resolves when the store answers a trivial read; rejects otherwise. */
  readonly pingStore: () => Promise<unknown>;
  /** Absent: no data plane in this process, nothing to check but the store. */
  readonly agent?: () => AgentStatus;
  /** The OFREP worker (ofrep-host.ts); absent: no worker in this process. */
  readonly ofrep?: () => HealthCheck & { readonly restarts: number };
  /** Apps whose route table is not in force yet. */
  readonly appsWithoutRoutes: () => readonly string[];
  /** How long a store read may take before it counts as unreachable. Default 2000. */
  readonly storeTimeoutMs?: number;
  /** Absent: this server is alone on its store. */
  readonly role?: () => Role;
}

export interface Health {
  health(): Promise<HealthReport>;
  ready(): Promise<ReadyReport>;
}

export function createHealth(sources: HealthSources): Health {
  const store = async (): Promise<HealthCheck> => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('timeout')), sources.storeTimeoutMs ?? 2000);
    });
    try {
      await Promise.race([sources.pingStore(), timeout]);
      return { ok: true };
    } catch {
      return { ok: false, reason: 'the store does not answer' };
    } finally {
      clearTimeout(timer);
    }
  };
  return {
    async health() {
      const status = sources.agent?.();
      const checks = {
        store: await store(),
        ...(status && { agent: agentCheck(status), proxy: proxyCheck(status) }),
        ...(sources.ofrep && { ofrep: sources.ofrep() }),
      };
      const ok = Object.values(checks).every((c) => c.ok);
      const role = sources.role?.();
      return { status: ok ? 'ok' : 'degraded', ...(role && { role }), checks };
    },
    async ready() {
      const reasons: string[] = [];
      const storeCheck = await store();
      if (storeCheck.reason) reasons.push(storeCheck.reason);
      const status = sources.agent?.();
      const agent = status && agentCheck(status);
      if (agent?.reason) reasons.push(agent.reason);
      const role = sources.role?.();
      const pending = role === 'follower' ? [] : sources.appsWithoutRoutes();
      if (pending.length) reasons.push(`route tables not applied yet: ${pending.join(', ')}`);
      return { ready: reasons.length === 0, ...(role && { role }), reasons };
    },
  };
}

function agentCheck(status: AgentStatus): HealthCheck {
  switch (status.state) {
    case 'up':
      return { ok: true };
    case 'unresponsive':
      return { ok: false, reason: 'the agent does not answer' };
    case 'down':
      return { ok: false, reason: 'the agent is down; it is being restarted' };
  }
}

function proxyCheck(status: AgentStatus): HealthReport['checks']['proxy'] {
  if (status.state !== 'up') return { ok: false, reason: 'the proxy is down with the agent' };
  const dp: DataPlaneHealth | null = status.info?.dataPlane ?? null;
  // No data plane yet: no app has a table, so nothing to serve.
  if (!dp) return { ok: true, workers: 0, up: 0, restarts: 0 };
  const counts = { workers: dp.workers, up: dp.up, restarts: dp.restarts };
  if (dp.up < dp.workers)
    return {
      ok: false,
      reason: `${dp.up} of ${dp.workers} proxy workers serve; the others are being replaced`,
      ...counts,
    };
  return { ok: true, ...counts };
}
