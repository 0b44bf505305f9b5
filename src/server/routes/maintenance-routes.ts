// Maintenance mode of an app: on (every request answered 503, Retry-After and a page) or off.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { appParams, maintenanceBody } from '../../api/requests.ts';
import { maintenanceAnswer } from '../../api/responses.ts';
import { MAX_MAINTENANCE_PAGE_BYTES } from '../../spec/maintenance.ts';
import { actorOf, noteAudit } from '../api-guard.ts';
import { maintenanceView } from '../app-views.ts';
import { errors, type RouteDeps } from './route-kit.ts';

/** Room for the largest page as JSON (escapes can make it six times larger): its size is checked by the schema. */
const BODY_LIMIT = MAX_MAINTENANCE_PAGE_BYTES * 6 + 64 * 1024;

export const maintenanceRoutes: FastifyPluginAsyncZod<RouteDeps> = async (app, deps) => {
  const { controller } = deps;
  app.post(
    '/api/v1/apps/:app/maintenance',
    {
      bodyLimit: BODY_LIMIT,
      schema: {
        summary:
          'Maintenance mode on (every request answered 503 with Retry-After and the page, but those forcing a revision) or off; answers once the proxy serves it',
        params: appParams,
        body: maintenanceBody,
        response: { 200: maintenanceAnswer, ...errors },
      },
    },
    async (req) => {
      const { on, page, retryAfterSeconds, reason } = req.body;
      noteAudit(req, { reason: `maintenance ${on ? 'on' : 'off'}${reason ? `: ${reason}` : ''}` });
      const r = await controller.maintenance(req.params.app, {
        on,
        page,
        retryAfterSeconds,
        reason,
        actor: actorOf(req),
      });
      return {
        app: req.params.app,
        on: r.maintenance !== null,
        changed: r.changed,
        inForceAt: r.inForceAt,
        maintenance: maintenanceView(r.maintenance),
      };
    },
  );
};
