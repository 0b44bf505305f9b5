// The built-in HealthSource (`health: { type: probe }`): probes every running instance of one app
// at its address, at the app's health interval, and keeps consecutive pass/fail counts. Readers
// get a verdict per instance without waiting for a probe.

import { probeHttp } from '../../../shared/http-probe.ts';
import type { AppSpec } from '../../../spec/app-spec.ts';
import type { HealthCheckResult, HealthSource, InstanceHealth } from '../../health-source.ts';
import type { Address, Instance } from '../../runtime.ts';

interface Tracked {
  passes: number;
  fails: number;
  verdict: InstanceHealth;
  lastDetail: string;
  lastProbeAt: number;
  pid: number | null;
  inFlight: boolean;
}

/** The URL of the app's health path on an instance (an IPv6 host in brackets). */
export function healthUrl(app: AppSpec, address: Address): string {
  const host = address.host.includes(':') ? `[${address.host}]` : address.host;
  return `http://${host}:${address.port}${app.health.path}`;
}

export class HealthMonitor implements HealthSource {
  readonly #app: AppSpec;
  readonly #tracked = new Map<string, Tracked>();

  constructor(app: AppSpec) {
    this.#app = app;
  }

  /** Probe the instances that are due. Call it often; it probes each at most once per interval. */
  observe(instances: readonly Instance[], now = Date.now()): void {
    const app = this.#app;
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
      void probeHttp(healthUrl(app, inst.address), { timeoutMs: app.health.timeout }).then((r) => {
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
    for (const id of this.#tracked.keys()) if (!seen.has(id)) this.#tracked.delete(id);
  }

  verdict(instanceId: string): InstanceHealth {
    return this.#tracked.get(instanceId)?.verdict ?? 'Unknown';
  }

  detail(instanceId: string): string {
    return this.#tracked.get(instanceId)?.lastDetail ?? '';
  }

  async check(instance: Instance): Promise<HealthCheckResult> {
    const { ok, detail } = await probeHttp(healthUrl(this.#app, instance.address), {
      timeoutMs: this.#app.health.timeout,
    });
    return { ok, detail };
  }
}
