import express from 'express';
import type { Router } from 'express';
import { MixerError } from '../../base/errors';
import { isCursor } from '../../queue/dead-letters';
import type { ReportQueue } from '../../queue/report-queue';
import { requireAdmin } from './admin';

/** `{handler}` in a URL: `name` (namespace default) or `namespace/name` URL-encoded as `namespace%2Fname`. */
export function handlerRef(param: string): string {
  return param.includes('/') ? param : `default/${param}`;
}

/** Most dead letters one page lists. */
export const MAX_DEAD_LETTER_PAGE = 1000;

/**
 * Dead letters, behind the admin token:
 * `GET /v1/deadletters/{handler}` (newest first, without their bags: `?limit=` (default 100, at most
 * 1000) and `?cursor=` (the `next` of the previous page)), `GET /v1/deadletters/{handler}/{id}`,
 * `POST /v1/deadletters/{handler}/replay` (body `{"ids": [...]}` or nothing for all).
 */
export function deadLetterRoutes(queue: ReportQueue, adminToken: string | undefined): Router {
  const r = express.Router();
  r.use('/v1/deadletters', requireAdmin(adminToken));
  r.get('/v1/deadletters/:handler', async (req, res) => {
    const limit = req.query.limit === undefined ? 100 : Number(req.query.limit);
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_DEAD_LETTER_PAGE)
      throw new MixerError('MIXER_ERR_BAD_REQUEST', `limit must be an integer from 1 to ${MAX_DEAD_LETTER_PAGE}`, {
        details: [{ field: 'limit', reason: `not an integer from 1 to ${MAX_DEAD_LETTER_PAGE}` }],
      });
    const cursor = req.query.cursor;
    if (cursor !== undefined && (typeof cursor !== 'string' || !isCursor(cursor)))
      throw new MixerError('MIXER_ERR_BAD_REQUEST', 'cursor must be the "next" of a previous page', { details: [{ field: 'cursor', reason: 'not a cursor' }] });
    const handler = handlerRef(req.params.handler);
    const page = await queue.deadLetterPage(handler, { limit, cursor });
    res.json({ handler, ...page });
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
