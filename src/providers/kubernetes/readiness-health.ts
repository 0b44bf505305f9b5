// `health: { type: readiness }`: the platform judges health. An instance is Healthy when the
// runtime says it is ready (a pod's Ready condition, from its readiness probe), Unhealthy when it
// says it is not, Unknown when the runtime has no word yet. For runtimes whose instances Rewind
// cannot reach itself (pods behind a cluster network), where HTTP probes from the controller
// would fail for the wrong reason.
import type { HealthCheckResult, HealthSource, InstanceHealth } from '../health-source.ts';
import type { Instance } from '../runtime.ts';

export class ReadinessHealth implements HealthSource {
  readonly #seen = new Map<string, Instance>();

  observe(instances: readonly Instance[]): void {
    const ids = new Set<string>();
    for (const i of instances) {
      ids.add(i.id);
      this.#seen.set(i.id, i);
    }
    for (const id of this.#seen.keys()) if (!ids.has(id)) this.#seen.delete(id);
  }

  verdict(instanceId: string): InstanceHealth {
    const i = this.#seen.get(instanceId);
    if (!i || i.ready === undefined) return 'Unknown';
    return i.ready && i.phase === 'Running' ? 'Healthy' : 'Unhealthy';
  }

  detail(instanceId: string): string {
    const i = this.#seen.get(instanceId);
    if (!i) return '';
    if (i.phase !== 'Running') return `${i.phase.toLowerCase()}${i.reason ? `: ${i.reason}` : ''}`;
    return i.ready === false ? 'not ready (its readiness probe fails)' : '';
  }

  async check(instance: Instance): Promise<HealthCheckResult> {
    this.#seen.set(instance.id, instance);
    const v = this.verdict(instance.id);
    return {
      ok: v === 'Healthy',
      detail: v === 'Healthy' ? 'ready' : this.detail(instance.id) || 'readiness not known yet',
    };
  }
}
