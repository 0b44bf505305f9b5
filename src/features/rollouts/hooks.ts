// Hooks before promotion, after promotion and after a rollback: a command or a webhook, like
// Flagger's webhooks and Argo Rollouts' web analysis. A failing pre-promotion hook aborts the
// rollout; the others are recorded.
import { z } from 'zod';
import { durationSchema } from '../../shared/duration-schema.ts';
import { type ProbeResult, runCommand } from '../health/probe.ts';

const timeout = durationSchema('10s').default(10_000);

const httpUrl = z.string().refine((u) => /^https?:\/\/[^\s/]+/.test(u), {
  message: 'is not an http(s) URL; write for example http://127.0.0.1:9000/hooks/rewind',
});

export const hookSchema = z.union([
  z.strictObject({ name: z.string().optional(), command: z.string().min(1), timeout }),
  z.strictObject({
    name: z.string().optional(),
    webhook: z.strictObject({ url: httpUrl, headers: z.record(z.string(), z.string()).default({}) }),
    timeout,
  }),
]);

export const hooksSchema = z
  .strictObject({
    prePromotion: z.array(hookSchema).default([]),
    postPromotion: z.array(hookSchema).default([]),
    postRollback: z.array(hookSchema).default([]),
  })
  .prefault({});

export type Hook = z.output<typeof hookSchema>;
export type HookPhase = 'prePromotion' | 'postPromotion' | 'postRollback';

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

export function hookName(hook: Hook): string {
  return hook.name ?? ('command' in hook ? hook.command : `POST ${hook.webhook.url}`);
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
