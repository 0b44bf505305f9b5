// What every route plugin shares: the services the composition root (build-app.ts) hands it and
// the error responses every route may give.
import type { Counter } from 'prom-client';
import { apiError } from '../../api/responses.ts';
import type { AppServices } from '../app-services.ts';

export interface RouteDeps extends AppServices {
  /** rewind_rollouts_started_total, by app and kind. */
  readonly rolloutsStarted: Counter<'app' | 'kind'>;
}

/** The coded error every route may answer with (shared/errors.ts). */
export const errors = { '4XX': apiError } as const;
