// Hooks in rewind.yaml: before promotion, after promotion and after a rollback, each a command or
// a webhook (features/rollouts/hooks.ts runs them).
import { z } from 'zod';
import { durationSchema } from '../shared/duration-schema.ts';

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

export function hookName(hook: Hook): string {
  return hook.name ?? ('command' in hook ? hook.command : `POST ${hook.webhook.url}`);
}
