import express from 'express';
import type { Router } from 'express';
import { MixerError } from '../../base/errors';
import type { ReportQueue } from '../../queue/report-queue';
import { requireAdmin } from './admin';

/** `{handler}` in a URL: `name` (namespace default) or `namespace/name` URL-encoded as `namespace%2Fname`. */
export function handlerRef(param: string): string {
  return param.includes('/') ? param : `default/${param}`;
}

/**
 * Dead letters, behind the admin token:
 * `GET /v1/deadletters/{handler}` (newest first, `?limit=`), `GET /v1/deadletters/{handler}/{id}`,
 * `POST /v1/deadletters/{handler}/replay` (body `{"ids": [...]}` or nothing for all).
 */
export function deadLetterRoutes(queue: ReportQueue, adminToken: string | undefined): Router {
  const r = express.Router();
  r.use('/v1/deadletters', requireAdmin(adminToken));
  r.get('/v1/deadletters/:handler', async (req, res) => {
    const limit = req.query.limit === undefined ? 100 : Number(req.query.limit);
    if (!Number.isSafeInteger(limit) || limit < 1)
      throw new MixerError('MIXER_ERR_BAD_REQUEST', 'limit must be a positive integer', { details: [{ field: 'limit', reason: 'not a positive integer' }] });
    const handler = handlerRef(req.params.handler);
    const items = await queue.deadLetters(handler, limit);
    res.json({ handler, count: (await queue.deadLetterCounts())[handler] ?? 0, items: items.map(({ bags, ...rest }) => ({ ...rest, bags: bags.length })) });
  });
  r.get('/v1/deadletters/:handler/:id', async (req, res) => {
    const handler = handlerRef(req.params.handler);
    const dl = await queue.deadLetter(handler, req.params.id);
    if (!dl) throw new MixerError('MIXER_ERR_NOT_FOUND', `no dead letter ${req.params.id} for handler ${handler}`);
    res.json(dl);
  });
  r.post('/v1/deadletters/:handler/replay', express.json({ limit: '64kb' }), async (req, res) => {
    const handler = handlerRef(req.params.handler);
    const ids = (req.body as { ids?: unknown } | undefined)?.ids;
    if (ids !== undefined && (!Array.isArray(ids) || !ids.every((i) => typeof i === 'string'))) {
      throw new MixerError('MIXER_ERR_BAD_REQUEST', 'ids must be an array of dead-letter ids', {
        details: [{ field: 'ids', reason: 'not an array of strings' }],
      });
    }
    const replayed = await queue.replay(handler, ids);
    res.status(202).json({ handler, replayed });
  });
  return r;
}
