import { connectRedis, describeRedis, redisSpecFromEnv } from '../../base/redis-connect';
import type { RedisSpec } from '../../base/redis-connect';
import { parseDuration } from '../../attributes/duration';
import { CliError, EXIT, usageError } from './errors';
import { emit, renderTable } from './output';
import type { OutputFormat } from './output';

/** `mixctl decisions` flags, as commander gives them. */
export interface DecisionsFlags {
  since: string;
  denied?: boolean;
  rule?: string;
  limit: string;
  redis?: string;
  keyPrefix?: string;
  stream: string;
  handler: string;
  key?: string;
}

/** A decision record as read back (see DecisionRecord in the SDK); every field may be missing. */
interface RecordJson {
  decisionId?: string;
  time?: string;
  status?: { code?: number; message?: string };
  rules?: string[];
  decidedBy?: { rule?: string };
  caller?: { app?: string; workload?: string; principal?: string };
  destination?: { service?: string; workload?: string };
}

/**
 * Where the stream is: `--redis <url>`, else Mixer's own Redis settings (REDIS_URL, MIXER_REDIS_CLUSTER or
 * MIXER_REDIS_SENTINELS, with their password and TLS settings), else the local default; the key `--key`, else the one
 * the handler writes: `<prefix>h:<namespace>/<name>:<stream>` (prefix `--key-prefix`, else
 * MIXER_KEY_PREFIX, else `mixer:`; a handler named without namespace is in `default`).
 */
export function streamLocation(f: DecisionsFlags, env: NodeJS.ProcessEnv = process.env): { redis: RedisSpec; key: string } {
  if (f.redis !== undefined && !/^rediss?:\/\//.test(f.redis)) throw usageError(`--redis: ${JSON.stringify(f.redis)} is not a redis:// URL`);
  let redis: RedisSpec | undefined;
  try {
    redis = f.redis !== undefined ? redisSpecFromEnv({ ...env, MIXER_REDIS_CLUSTER: '', MIXER_REDIS_SENTINELS: '' }, f.redis) : redisSpecFromEnv(env);
  } catch (err) {
    throw usageError((err as Error).message);
  }
  const handler = f.handler.includes('/') ? f.handler : `default/${f.handler}`;
  return {
    redis: redis ?? { target: { mode: 'server', url: 'redis://127.0.0.1:6379' } },
    key: f.key ?? `${f.keyPrefix ?? env.MIXER_KEY_PREFIX ?? 'mixer:'}h:${handler}:${f.stream}`,
  };
}

/** A rule given by name alone is in namespace `default`. */
const ruleRef = (r: string): string => (r.includes('/') ? r : `default/${r}`);

/** True when a record passes the `--denied` and `--rule` filters. */
export function wanted(r: RecordJson, f: Pick<DecisionsFlags, 'denied' | 'rule'>): boolean {
  if (f.denied && r.status?.code === 0) return false;
  if (f.rule !== undefined) {
    const ref = ruleRef(f.rule);
    return r.decidedBy?.rule === ref || (Array.isArray(r.rules) && r.rules.includes(ref));
  }
  return true;
}

function row(r: RecordJson): string[] {
  const src = r.caller?.app ?? r.caller?.workload ?? r.caller?.principal ?? '?';
  const dst = r.destination?.service ?? r.destination?.workload ?? '?';
  return [r.time ?? '', `${src} → ${dst}`, String(r.status?.code), r.status?.message ?? '', r.decidedBy?.rule ?? '', r.decisionId ?? ''];
}

/**
 * `mixctl decisions`: the decision log a `decisionlog` handler with `sink: redis` keeps in a capped
 * stream of batches, read straight from Redis (XRANGE from `--since` ago, then each record's time),
 * filtered by `--denied` and `--rule`,
 * oldest first, at most `--limit` (the newest ones when more match).
 */
export async function decisionsCommand(format: OutputFormat, f: DecisionsFlags): Promise<void> {
  const sinceMs = parseDuration(f.since);
  if (sinceMs === undefined || sinceMs <= 0) throw usageError(`--since: ${JSON.stringify(f.since)} is not a positive duration (e.g. 10m, 1h)`);
  const limit = Number(f.limit);
  if (!Number.isSafeInteger(limit) || limit < 1) throw usageError(`--limit: ${JSON.stringify(f.limit)} is not a positive integer`);
  const { redis: spec, key } = streamLocation(f);
  const redis = connectRedis(spec, 'lazy', { retryStrategy: () => null, connectTimeout: 5000 });
  redis.on('error', () => undefined);
  const found: RecordJson[] = [];
  try {
    try {
      await redis.connect();
    } catch (err) {
      throw new CliError(EXIT.UNREACHABLE, `cannot reach Redis at ${describeRedis(spec)}: ${(err as Error).message}`, [
        'set --redis <url>, or REDIS_URL (MIXER_REDIS_CLUSTER, MIXER_REDIS_SENTINELS), to the Redis the decisionlog handler writes to',
      ]);
    }
    const since = Date.now() - sinceMs;
    let start = String(since);
    for (;;) {
      const page = await redis.xrange(key, start, '+', 'COUNT', 100);
      for (const [, fields] of page) {
        const i = fields.indexOf('d');
        if (i === -1 || i + 1 >= fields.length) continue;
        let batch: unknown;
        try {
          batch = JSON.parse(fields[i + 1]);
        } catch {
          continue;
        }
        for (const r of (Array.isArray(batch) ? batch : [batch]) as RecordJson[]) {
          // An entry holds the batch written at its id's time: its first records may be a little older.
          if (Date.parse(r.time ?? '') < since || !wanted(r, f)) continue;
          found.push(r);
          if (found.length > limit) found.shift();
        }
      }
      if (page.length < 100) break;
      start = `(${page[page.length - 1][0]}`;
    }
  } finally {
    redis.disconnect();
  }
  emit(format, found, () =>
    found.length === 0
      ? `No decisions in ${key} in the last ${f.since}${f.denied ? ' (denied)' : ''}${f.rule ? ` (rule ${ruleRef(f.rule)})` : ''}.`
      : renderTable(['time', 'caller → destination', 'code', 'message', 'decided by', 'decision id'], found.map(row)),
  );
}
