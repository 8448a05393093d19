import { Router } from 'express';
import type { TapService } from '../../tap/service';
import { requireAdmin } from './admin';

/** Bytes a slow tap reader may have waiting; past it events are dropped (and reported as drops). */
const MAX_BUFFERED_BYTES = 1024 * 1024;
/** A comment line this often keeps proxies from closing an idle tap, ms. */
const KEEPALIVE_MS = 15_000;

/**
 * `GET /v1/tap` (admin token): the live tap, as Server-Sent Events. First an `event: open` with the
 * tap's id, replica, filter and rate; then `event: check` / `event: report` with one JSON object each,
 * and `event: dropped` once a second when events were refused. Closing the connection ends the tap.
 */
export function tapRoutes(taps: TapService, replica: string, adminToken: string | undefined): Router {
  const r = Router();
  r.get('/v1/tap', requireAdmin(adminToken), (req, res, next) => {
    const query: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.query)) if (typeof v === 'string') query[k] = v;
    let tap;
    try {
      tap = taps.openTap(
        query,
        (chunk) => {
          if (res.writableLength > MAX_BUFFERED_BYTES || res.writableEnded) return false;
          res.write(chunk);
          return true;
        },
        () => res.end(),
      );
    } catch (err) {
      return next(err);
    }
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-accel-buffering': 'no',
      'x-content-type-options': 'nosniff',
      connection: 'keep-alive',
    });
    const { rate, ...filter } = query;
    res.write(`event: open\ndata: ${JSON.stringify({ id: tap.id, replica, filter, rate: rate === undefined ? taps.limits.maxRate : Number(rate) })}\n\n`);
    const keepalive = setInterval(() => res.write(': keepalive\n\n'), KEEPALIVE_MS);
    keepalive.unref();
    const end = (): void => {
      clearInterval(keepalive);
      tap.close();
    };
    req.on('close', end);
    res.on('close', end);
  });
  return r;
}
