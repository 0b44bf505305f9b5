// Maintenance mode: while it is on, the app's proxy answers every request with 503, Retry-After
// and a page, except requests that force a revision (testers, the rollout's own checks). Its
// rewind.yaml key (`maintenance:`) and the state the store keeps with the app.
import { z } from 'zod';
import { durationSchema } from '../shared/duration-schema.ts';

/** The largest page the proxy serves: it is held in every proxy worker and sent on every request. */
export const MAX_MAINTENANCE_PAGE_BYTES = 256 * 1024;
/** Retry-After when nobody says otherwise. */
export const DEFAULT_RETRY_AFTER_SECONDS = 60;
/** The longest Retry-After: a day. */
export const MAX_RETRY_AFTER_SECONDS = 86_400;

/**
 * `maintenance:` of an app in rewind.yaml: `auto` (or `manual`, the default), or the object form
 * with the page and Retry-After used when Rewind turns it on, and by `rewind maintenance on` when
 * it names no page.
 */
export const maintenanceSpecSchema = z.preprocess(
  (v) => (typeof v === 'string' ? { mode: v } : v),
  z
    .strictObject({
      /** auto: a rollback that needs a cold start, or a db restore --overwrite, turns it on and off. */
      mode: z
        .enum(['auto', 'manual'], {
          error: (i) =>
            `${JSON.stringify(i.input)} is not auto or manual; write maintenance: auto, or maintenance: { mode: auto, page: FILE, retryAfter: 60s }`,
        })
        .default('manual'),
      /** An HTML file, relative to rewind.yaml (default: a page naming the app). */
      page: z.string().min(1, 'give the path of an HTML file, relative to rewind.yaml').optional(),
      retryAfter: durationSchema('60s', { max: MAX_RETRY_AFTER_SECONDS * 1000, maxReason: 'a day' })
        .refine((ms) => ms >= 1000, { message: 'Retry-After is at least 1s' })
        .default(DEFAULT_RETRY_AFTER_SECONDS * 1000),
    })
    .prefault({}),
);

export type MaintenanceSpec = z.output<typeof maintenanceSpecSchema>;

/** Maintenance mode as it is on, kept with the app in the store (null when off). */
export const maintenanceStateSchema = z.looseObject({
  /** When it was turned on (unix ms). */
  since: z.number(),
  retryAfterSeconds: z.number().int().min(1),
  /** The HTML page served; null: the default page naming the app. */
  page: z.string().nullable(),
  reason: z.string().nullable(),
  /** Who turned it on: a token's name, or "rewind". */
  by: z.string(),
  /** manual: by a person, who turns it off; auto: by Rewind for `rolloutId`, which turns it off. */
  source: z.enum(['manual', 'auto']),
  /** The rollout (a rollback) it was turned on for, when auto; null for a database restore. */
  rolloutId: z.string().nullable(),
});

export type MaintenanceState = z.output<typeof maintenanceStateSchema>;

/** A page's size in bytes, or the problem with it (over MAX_MAINTENANCE_PAGE_BYTES, empty). */
export function pageProblem(page: string): string | null {
  const bytes = Buffer.byteLength(page, 'utf8');
  if (bytes === 0) return 'the page is empty; give an HTML page, or none for the default one';
  if (bytes > MAX_MAINTENANCE_PAGE_BYTES)
    return `the page is ${kib(bytes)} KiB, over the ${kib(MAX_MAINTENANCE_PAGE_BYTES)} KiB limit; inline less (images as links to another host) or leave the page out for the default one`;
  return null;
}

const kib = (bytes: number) => Math.ceil((bytes / 1024) * 10) / 10;
