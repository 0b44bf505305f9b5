// The end-to-end canary pieces of bench/detection.ts and bench/false-alarms.ts: a real rewind
// server whose shop app rolls out as a canary (stable revision with 0.5% errors), and one canary
// deploy watched under open-loop load, measured from the load's own samples and the journal.
import { join } from 'node:path';
import { ROOT } from '../../test/support/rewind-harness.ts';
import { type OpenLoop, ok } from './open-loop.ts';
import {
  type ApiClient,
  type EventRecord,
  nowMs,
  type RolloutRecord,
  type Sample,
  sleep,
  startBenchRewind,
  TERMINAL,
} from './rewind-cycle.ts';

export interface CanaryConfigOptions {
  /** Canary weight of the first step, 1..99; 100 is a blue-green switch baked for `pause`. */
  readonly weight: number;
  /** The pause after it: the canary's time under analysis before it is promoted. */
  readonly pause: string;
  /** Error share of every revision unless the deploy overrides SHOP_ERROR_RATE. */
  readonly baseErrorRate: number;
  readonly instances?: number;
  /** Latency every revision adds (SHOP_LATENCY_MS) unless the deploy overrides it; 0 by default. */
  readonly baseLatencyMs?: number;
}

/** rewind.yaml: the shop as a canary (setWeight, pause, setWeight 100, bake 1s); no analysis block, so the seed defaults and the judgment apply. */
export function canaryConfig(o: CanaryConfigOptions): (appPort: number) => string {
  return (appPort) => `apps:
  - name: shop
    listen: 127.0.0.1:${appPort}
    run:
      command: ${process.execPath} ${join(ROOT, 'examples/shop/server.js')}
      env: { SHOP_VERSION: "\${version}", SHOP_ERROR_RATE: "${o.baseErrorRate}", SHOP_LATENCY_MS: "${o.baseLatencyMs ?? 0}" }
      instances: ${o.instances ?? 1}
      stopTimeout: 2s
    health: { path: /healthz, interval: 100ms, timeout: 500ms, startTimeout: 5s }
    strategy:
${
  o.weight >= 100
    ? `      blueGreen:
        bake: ${o.pause}
        drainTimeout: 2s`
    : `      canary:
        steps:
          - setWeight: ${o.weight}
          - pause: ${o.pause}
          - setWeight: 100
        bake: 1s
        keepPreviousWarm: 1m
        drainTimeout: 2s`
}
`;
}

/** Starts rewind with `config`, and closes it on SIGINT and SIGTERM. */
export const startCanaryRewind = (config: (appPort: number) => string) => startBenchRewind(config);

export interface CanaryRun {
  readonly version: string;
  readonly phase: string;
  /** The rollout was still going at the cap and was aborted by the benchmark. */
  readonly capped: boolean;
  readonly samples: Sample[];
  readonly events: EventRecord[];
  /** Unix ms. */
  readonly deployedAt: number;
  readonly trafficAt: number | null;
  readonly decisionAt: number | null;
  readonly decisionMessage: string | null;
  /** With no analysis decision: the events that ended the rollout otherwise (a failed step, a breach). */
  readonly otherEnd: string | null;
  readonly switchedBackAt: number | null;
  readonly canaryFirstResponseAt: number | null;
  readonly canaryFirstBadAt: number | null;
  /** Send time of the last request not answered by the stable revision (all later ones were). */
  readonly lastNotStableSentAt: number | null;
  readonly canaryRequests: number;
  /** Failed requests answered by the canary, or failed without any revision's answer (proxy errors). */
  readonly canaryFailed: number;
  readonly stableRequests: number;
  readonly stableFailed: number;
  readonly canaryMedianMs: number | null;
  readonly stableMedianMs: number | null;
}

const median = (xs: number[]): number | null => {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

/**
 * Deploys `version` (a canary) under the running open-loop `load`, waits until the rollout ends or
 * `capMs` after the canary took traffic (then aborts it), lets the load settle and measures.
 */
export async function runCanary(
  api: ApiClient,
  load: OpenLoop,
  o: {
    version: string;
    env: Record<string, string>;
    stableVersion: string;
    capMs: number;
    settleMs?: number;
  },
): Promise<CanaryRun> {
  load.takeSamples();
  const deployedAt = nowMs();
  let rollout = await api.post<RolloutRecord>('/api/v1/apps/shop/deploy', { version: o.version, env: o.env });
  let trafficAt: number | null = null;
  let capped = false;
  const deadline = deployedAt + 30_000; // the canary must take traffic within 30 s
  while (!TERMINAL.has(rollout.phase)) {
    await sleep(100);
    rollout = await api.get<RolloutRecord>(`/api/v1/rollouts/${rollout.id}`);
    if (trafficAt === null) {
      const w = (await api.events(rollout.id)).find(
        (e) =>
          e.type === 'traffic.switched' ||
          (e.type === 'traffic.weight' && ((e.data as { weight?: number } | null)?.weight ?? 0) > 0),
      );
      if (w) trafficAt = w.at;
    }
    const now = nowMs();
    if (!TERMINAL.has(rollout.phase) && now > (trafficAt === null ? deadline : trafficAt + o.capMs)) {
      capped = true;
      await api.call('POST', '/api/v1/apps/shop/abort', { reason: 'bench cap reached' });
      while (!TERMINAL.has(rollout.phase)) {
        await sleep(100);
        rollout = await api.get<RolloutRecord>(`/api/v1/rollouts/${rollout.id}`);
      }
    }
  }
  // Requests sent just before the switch may still be in flight.
  await sleep(o.settleMs ?? 1500);
  const samples = load.takeSamples().sort((a, b) => a.sentAt - b.sentAt);
  const events = await api.events(rollout.id);
  const decision = events.find((e) => e.type === 'analysis.decision');
  const back = events.find((e) => e.type === 'traffic.switched-back');
  const fromCanary = (s: Sample) => s.version === o.version || (s.version === null && !ok(s));
  let canaryRequests = 0;
  let canaryFailed = 0;
  let stableRequests = 0;
  let stableFailed = 0;
  let firstResponse: number | null = null;
  let firstBad: number | null = null;
  let lastNotStable: number | null = null;
  const canaryLatency: number[] = [];
  const stableLatency: number[] = [];
  for (const s of samples) {
    if (s.version !== o.stableVersion) lastNotStable = s.sentAt;
    if (fromCanary(s)) {
      canaryRequests++;
      if (s.version !== null) {
        firstResponse = Math.min(firstResponse ?? s.doneAt, s.doneAt);
        canaryLatency.push(s.doneAt - s.sentAt);
      }
      if (!ok(s)) {
        canaryFailed++;
        firstBad = Math.min(firstBad ?? s.doneAt, s.doneAt);
      }
    } else if (s.version === o.stableVersion) {
      stableRequests++;
      stableLatency.push(s.doneAt - s.sentAt);
      if (!ok(s)) stableFailed++;
    }
  }
  return {
    version: o.version,
    phase: rollout.phase,
    capped,
    samples,
    events,
    deployedAt,
    trafficAt,
    decisionAt: decision?.at ?? null,
    decisionMessage: decision?.message ?? null,
    otherEnd: decision
      ? null
      : events
          .filter((e) => /failed|breach|aborted|rollback/.test(e.type))
          .map((e) => `${e.type}: ${e.message}`)
          .join('; ') || null,
    switchedBackAt: back?.at ?? null,
    canaryFirstResponseAt: firstResponse,
    canaryFirstBadAt: firstBad,
    lastNotStableSentAt: lastNotStable,
    canaryRequests,
    canaryFailed,
    stableRequests,
    stableFailed,
    canaryMedianMs: median(canaryLatency),
    stableMedianMs: median(stableLatency),
  };
}
