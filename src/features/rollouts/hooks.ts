// Hooks before promotion, after promotion and after a rollback: a command or a webhook, like
// Flagger's webhooks and Argo Rollouts' web analysis. A failing pre-promotion hook aborts the
// rollout; the others are recorded.
import { type Hook, type HookPhase, hookName } from '../../spec/hooks-spec.ts';
import { type ProbeResult, runCommand } from '../health/probe.ts';

export { type Hook, type HookPhase, hookName };

export interface HookContext {
  readonly phase: HookPhase;
  readonly app: string;
  readonly rolloutId: string;
  readonly revision: number;
  readonly version: string;
  readonly previousRevision: number | null;
  readonly cwd: string;
  readonly env: Record<string, string>;
}

/** Runs one hook; never throws. A webhook passes with a 2xx answer, a command with exit 0. */
export async function runHook(hook: Hook, ctx: HookContext): Promise<ProbeResult> {
  const payload = {
    phase: ctx.phase,
    app: ctx.app,
    rolloutId: ctx.rolloutId,
    revision: ctx.revision,
    version: ctx.version,
    previousRevision: ctx.previousRevision,
  };
  if ('command' in hook) {
    return runCommand(hook.command, {
      cwd: ctx.cwd,
      env: {
        ...ctx.env,
        REWIND_HOOK: ctx.phase,
        REWIND_APP: ctx.app,
        REWIND_ROLLOUT: ctx.rolloutId,
        REWIND_REVISION: String(ctx.revision),
        REWIND_VERSION: ctx.version,
      },
      timeoutMs: hook.timeout,
      expectExitCode: 0,
    });
  }
  const started = performance.now();
  try {
    const res = await fetch(hook.webhook.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...hook.webhook.headers },
      body: JSON.stringify(payload),
      signal: AbortSignal.timeout(hook.timeout),
    });
    const body = (await res.text()).slice(0, 300);
    const ms = performance.now() - started;
    return res.ok
      ? { ok: true, detail: `${res.status}`, ms }
      : { ok: false, detail: `${hook.webhook.url} answered ${res.status}${body ? `: ${body}` : ''}`, ms };
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } };
    const why =
      e.name === 'TimeoutError' ? `no answer within ${hook.timeout}ms` : (e.cause?.code ?? e.message);
    return { ok: false, detail: `${hook.webhook.url}: ${why}`, ms: performance.now() - started };
  }
}
