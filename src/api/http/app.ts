import express from 'express';
import type { NextFunction, Request, Response } from 'express';
import { MixerError } from '../../base/errors';
import { RouteError } from '../../sdk/adapter';
import type { ConfigStore } from '../../runtime/config-store';
import type { SelfMetrics } from '../../metrics/self-metrics';
import { sendError } from './respond';
import { renderMetrics } from '../../metrics/render';

export interface AppDeps {
  store: ConfigStore;
  metrics: SelfMetrics;
  /** `up`, `down`, or `not configured` (embedded mode). */
  redisState: () => 'up' | 'down' | 'not configured';
  /** Called with the app before the 404 handler, to mount more routes. */
  mount?: (app: express.Express) => void;
}

/** Everything but the hot POST routes: health, metrics, status, and whatever `mount` adds. */
export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  app.get('/readyz', (_req, res) => {
    const ready = deps.store.ready;
    const body = { ready, configGeneration: deps.store.status.generation, redis: deps.redisState() };
    res.status(ready ? 200 : 503).json(body);
  });

  app.get('/metrics', async (_req, res, next) => {
    try {
      const handlers = deps.store.ready ? [...deps.store.current.handlers.values()].map((h) => h.registry) : [];
      res.set('content-type', deps.metrics.registry.contentType).send(await renderMetrics(deps.metrics.registry, handlers));
    } catch (err) {
      next(err);
    }
  });

  app.get('/v1/config/status', (_req, res) => {
    res.json(deps.store.status);
  });

  app.all(['/v1/check', '/v1/report'], (req, _res, next) => {
    next(new MixerError('MIXER_ERR_METHOD_NOT_ALLOWED', `${req.method} ${req.path} is not allowed; use POST`));
  });

  deps.mount?.(app);

  // GET routes served by handlers of the live config (e.g. the graph adapter's /v1/graph and /graph page).
  app.get(/^\/.+/, async (req, res, next) => {
    if (!deps.store.ready) return next();
    for (const h of deps.store.current.handlers.values()) {
      const route = h.handler.routes?.[req.path];
      if (!route) continue;
      const query: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.query)) if (typeof v === 'string') query[k] = v;
      try {
        const answer = await route(query);
        const body = answer.body;
        res.status(answer.status ?? 200);
        if (answer.headers) res.set(answer.headers);
        if (typeof body === 'string') res.type(answer.contentType ?? 'text/plain').send(body);
        else res.type(answer.contentType ?? 'application/json').send(JSON.stringify(body));
      } catch (err) {
        if (err instanceof RouteError) {
          const code = err.status === 404 ? 'MIXER_ERR_NOT_FOUND' : 'MIXER_ERR_BAD_REQUEST';
          return next(new MixerError(code, err.message, { details: [{ field: err.field, reason: err.message }] }));
        }
        return next(err);
      }
      return;
    }
    next();
  });

  app.use((req: Request, _res: Response, next: NextFunction) => {
    next(new MixerError('MIXER_ERR_NOT_FOUND', `no route for ${req.method} ${req.path}`));
  });

  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const e = err as { type?: string; status?: number };
    if (e?.type === 'entity.too.large') return void sendError(res, new MixerError('MIXER_ERR_BODY_TOO_LARGE', 'request body too large'));
    if (e?.type === 'entity.parse.failed') return void sendError(res, new MixerError('MIXER_ERR_BAD_JSON', 'request body is not valid JSON'));
    const m = sendError(res, err);
    deps.metrics.requestErrors.inc({ route: 'other', code: m.code });
  });
  return app;
}
