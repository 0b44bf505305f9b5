// Probes every running instance of the revisions the controller cares about, at the app's health
// interval, and keeps consecutive pass/fail counts. Readers get a verdict per instance without
// waiting for a probe.

import type { Instance } from '../../providers/runtimes/types.ts';
import type { AppSpec } from '../../spec/app-spec.ts';
import { probeHttp } from './probe.ts';

export type InstanceHealth = 'Unknown' | 'Healthy' | 'Unhealthy';

interface Tracked {
  passes: number;
  fails: number;
  verdict: InstanceHealth;
  lastDetail: string;
  lastProbeAt: number;
  pid: number | null;
  inFlight: boolean;
}

export class HealthMonitor {
  readonly #tracked = new Map<string, Tracked>();

  /** Probe the instances that are due. Call it often; it probes each at most once per interval. */
  tick(app: AppSpec, instances: readonly Instance[], now = Date.now()): void {
    const seen = new Set<string>();
    for (const inst of instances) {
      if (inst.app !== app.name) continue;
      seen.add(inst.id);
      let t = this.#tracked.get(inst.id);
      // A restarted process starts from Unknown: its predecessor's verdict says nothing about it.
      if (!t || t.pid !== inst.pid) {
        t = {
          passes: 0,
          fails: 0,
          verdict: 'Unknown',
          lastDetail: '',
          lastProbeAt: 0,
          pid: inst.pid,
          inFlight: false,
        };
        this.#tracked.set(inst.id, t);
      }
      if (inst.phase !== 'Running' || t.inFlight || now - t.lastProbeAt < app.health.interval) continue;
      t.inFlight = true;
      t.lastProbeAt = now;
      const tracked = t;
      void probeHttp(`http://127.0.0.1:${inst.port}${app.health.path}`, {
        timeoutMs: app.health.timeout,
      }).then((r) => {
        tracked.inFlight = false;
        tracked.lastDetail = r.detail;
        if (r.ok) {
          tracked.passes++;
          tracked.fails = 0;
          if (tracked.passes >= app.health.healthyThreshold) tracked.verdict = 'Healthy';
        } else {
          tracked.fails++;
          tracked.passes = 0;
          if (tracked.fails >= app.health.unhealthyThreshold) tracked.verdict = 'Unhealthy';
        }
      });
    }
    for (const id of this.#tracked.keys())
      if (id.startsWith(`${app.name}/`) && !seen.has(id)) this.#tracked.delete(id);
  }

  health(instanceId: string): InstanceHealth {
    return this.#tracked.get(instanceId)?.verdict ?? 'Unknown';
  }

  lastDetail(instanceId: string): string {
    return this.#tracked.get(instanceId)?.lastDetail ?? '';
  }
}
