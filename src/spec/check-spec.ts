// A check of rewind.yaml: an HTTP request to the revision or a shell command, and what counts as a
// pass. Pre-promotion checks and the checks of the post-rollback watch are written the same way.
import { z } from 'zod';
import { durationSchema } from '../shared/duration-schema.ts';

const duration = (example: string) => durationSchema(example);

export const httpCheckSchema = z.strictObject({
  name: z.string().optional(),
  http: z.strictObject({
    path: z.string().startsWith('/', 'the path starts with /'),
    method: z.enum(['GET', 'HEAD', 'POST']).default('GET'),
    expectStatus: z.number().int().min(100).max(599).default(200),
    timeout: duration('2s').default(2000),
  }),
});

export const commandCheckSchema = z.strictObject({
  name: z.string().optional(),
  command: z.string().min(1, 'give a shell command'),
  expectExitCode: z.number().int().min(0).max(255).default(0),
  timeout: duration('30s').default(30_000),
});

export const checkSchema = z.union([httpCheckSchema, commandCheckSchema]);

export type Check = z.output<typeof checkSchema>;
