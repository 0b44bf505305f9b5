// HealthSource: a verdict per instance of one app. The built-in one (`probe`,
// providers/builtin/health/health-monitor.ts) probes each instance's address over HTTP; a platform with its
// own readiness checks would report those instead. Registered by type in ./registry.ts; chosen
// with `health: { type }` in rewind.yaml.
//
// Contract:
// - observe() is called on every reconcile tick with what the runtime listed; it must not block
//   (start probes in the background) and must forget instances no longer listed.
// - verdict() and detail() answer at once from what is known: the rollout and the traffic router
//   read them on the switch path.
// - check() is a fresh look for verifications; a failure is data ({ ok: false, detail }), never a throw.
import type { Instance } from './runtime.ts';

export type InstanceHealth = 'Unknown' | 'Healthy' | 'Unhealthy';

export interface HealthCheckResult {
  readonly ok: boolean;
  readonly detail: string;
}

export interface HealthSource {
  observe(instances: readonly Instance[], now?: number): void;
  /** 'Unknown' until the source has seen enough, and for instances it does not know. */
  verdict(instanceId: string): InstanceHealth;
  /** The last failure's words (or ''), for messages such as "not healthy within 30 s: ...". */
  detail(instanceId: string): string;
  check(instance: Instance): Promise<HealthCheckResult>;
}
