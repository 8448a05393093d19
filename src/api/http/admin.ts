import { timingSafeEqual, createHash } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { MixerError } from '../../base/errors';

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/**
 * Express middleware guarding admin APIs with `Authorization: Bearer <token>`.
 * No token configured: the API is off (403), never open. Wrong or missing token: 401.
 */
export function requireAdmin(token: string | undefined) {
  const want = token ? digest(token) : undefined;
  return (req: Request, _res: Response, next: NextFunction): void => {
    if (!want) return next(new MixerError('MIXER_ERR_API_DISABLED', 'the admin API is off: set MIXER_ADMIN_TOKEN or MIXER_ADMIN_TOKEN_FILE to turn it on'));
    const header = req.headers.authorization ?? '';
    const m = /^Bearer\s+(.+)$/i.exec(header);
    if (!m || !timingSafeEqual(digest(m[1].trim()), want)) {
      return next(new MixerError('MIXER_ERR_UNAUTHORIZED', m ? 'wrong admin token' : 'missing admin token: send Authorization: Bearer <token>'));
    }
    next();
  };
}
