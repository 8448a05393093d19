import type { Request, Response } from 'express';
import { MixerError } from '../../errors';
import type { ConfigStore } from '../../runtime/config-store';
import type { RoutesAnswer } from './types';

/**
 * `GET /v1/routes`: every live RouteRule and the config generation, with a strong ETag
 * (`"<epoch>-<generation>"`). Sidecars poll it every ~300 ms with `If-None-Match` and get a bodiless
 * 304 until the config changes; the same poll tells them to drop cached check verdicts. The
 * epoch changes when Mixer restarts, so generations of two runs are never confused.
 */
export function routesEndpoint(store: ConfigStore, epoch: string): (req: Request, res: Response, next: (err?: unknown) => void) => void {
  let cached: { generation: number; etag: string; body: string } | undefined;
  return (req, res, next) => {
    if (!store.ready) return next(new MixerError('MIXER_ERR_NOT_READY', 'no valid config loaded yet'));
    const snapshot = store.current;
    if (!cached || cached.generation !== snapshot.generation) {
      const answer: RoutesAnswer = { configGeneration: snapshot.generation, epoch, routes: [...snapshot.plan.routes] };
      cached = { generation: snapshot.generation, etag: `"${epoch}-${snapshot.generation}"`, body: JSON.stringify(answer) };
    }
    res.setHeader('etag', cached.etag);
    res.setHeader('cache-control', 'no-cache');
    if (req.headers['if-none-match'] === cached.etag) {
      res.status(304).end();
      return;
    }
    res.status(200).type('application/json').send(cached.body);
  };
}
