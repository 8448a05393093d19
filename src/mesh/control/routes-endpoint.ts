import type { Request, Response } from 'express';
import { MixerError } from '../../base/errors';
import type { ConfigStore } from '../../runtime/config-store';
import type { RoutesAnswer } from '../../routing/types';

/**
 * `GET /v1/routes`: every live RouteRule and the config generation, with a strong ETag
 * (`"<epoch>-<generation>"`). Sidecars poll it every ~300 ms with `If-None-Match` and get a bodiless
 * 304 until the config changes; the same poll tells them to drop cached check verdicts. Replicas
 * sharing a Redis answer the same generation and epoch for the same config (`runtime/generations.ts`),
 * so a poll answered by another replica is still a 304.
 */
export function routesEndpoint(store: ConfigStore): (req: Request, res: Response, next: (err?: unknown) => void) => void {
  let cached: { snapshot: object; etag: string; body: string } | undefined;
  return (req, res, next) => {
    if (!store.ready) return next(new MixerError('MIXER_ERR_NOT_READY', 'no valid config loaded yet'));
    const snapshot = store.current;
    if (cached?.snapshot !== snapshot) {
      const { generation, epoch } = snapshot;
      const answer: RoutesAnswer = {
        configGeneration: generation,
        epoch,
        routes: [...snapshot.plan.routes],
        peerAuthentications: [...snapshot.plan.peerAuthentications],
      };
      cached = { snapshot, etag: `"${epoch}-${generation}"`, body: JSON.stringify(answer) };
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
