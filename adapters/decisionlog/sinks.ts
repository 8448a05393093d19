import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DecisionRecord, RedisConnection } from '../../src/sdk';
import type { DecisionLogSettings } from './config';
import { JSON_ARRAY, JSON_LINES } from './batch';
import type { Batch, Framing } from './batch';

/** A record as a sink writes it: the bag (`attributes`) only when the handler keeps it (`attributes: all`). */
export type LoggedDecision = Omit<DecisionRecord, 'attributes'> & { readonly attributes?: DecisionRecord['attributes'] };

/**
 * Where batches of records are written. The handler encodes each record with `encode` (masked already)
 * as it takes it and frames a batch's texts as `framing` says; `write` rejects when the batch could not
 * be written.
 */
export interface Sink {
  readonly kind: string;
  readonly framing: Framing;
  /** One record's JSON text, in this sink's shape. */
  encode(record: LoggedDecision): string;
  write(batch: Batch): Promise<void>;
  close(): Promise<void>;
}

/** JSON lines on stdout. */
export class StdoutSink implements Sink {
  readonly kind = 'stdout';
  readonly framing = JSON_LINES;
  encode(record: LoggedDecision): string {
    return JSON.stringify(record);
  }
  write(batch: Batch): Promise<void> {
    return new Promise((resolve, reject) => process.stdout.write(batch.data, (err) => (err ? reject(err) : resolve())));
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * JSON lines appended to a file. When a write would take the file past `maxBytes`, the file is rotated
 * first: `<path>` becomes `<path>.1`, `.1` becomes `.2`, ..., and `.<maxFiles>` is removed.
 */
export class FileSink implements Sink {
  readonly kind = 'file';
  readonly framing = JSON_LINES;
  private constructor(
    private readonly file: string,
    private readonly maxBytes: number,
    private readonly maxFiles: number,
    private fh: fs.promises.FileHandle,
    private size: number,
  ) {}

  /** Opens (creating the directory and file); rejects when it cannot. */
  static async open(file: string, maxBytes: number, maxFiles: number): Promise<FileSink> {
    await fs.promises.mkdir(path.dirname(file), { recursive: true });
    const fh = await fs.promises.open(file, 'a');
    const { size } = await fh.stat();
    return new FileSink(file, maxBytes, maxFiles, fh, size);
  }

  encode(record: LoggedDecision): string {
    return JSON.stringify(record);
  }

  async write(batch: Batch): Promise<void> {
    const { data } = batch;
    if (this.size > 0 && this.size + data.length > this.maxBytes) await this.rotate();
    await this.fh.write(data);
    this.size += data.length;
  }

  private async rotate(): Promise<void> {
    await this.fh.close();
    await fs.promises.rm(`${this.file}.${this.maxFiles}`, { force: true });
    for (let i = this.maxFiles - 1; i >= 1; i--) await fs.promises.rename(`${this.file}.${i}`, `${this.file}.${i + 1}`).catch(() => undefined);
    await fs.promises.rename(this.file, `${this.file}.1`);
    this.fh = await fs.promises.open(this.file, 'a');
    this.size = 0;
  }

  close(): Promise<void> {
    return this.fh.close().catch(() => undefined);
  }
}

/**
 * One record as OPA's decision-log event (https://www.openpolicyagent.org/docs/latest/management-decision-logs/):
 * `decision_id`, `timestamp`, `path`, `input` (the attributes), `result` (the verdict and what decided
 * it), `requested_by` (the caller), `labels`, `metrics` (ns).
 */
export function opaEvent(r: LoggedDecision, handler: string): Record<string, unknown> {
  return {
    labels: { app: 'mixer', handler },
    decision_id: r.decisionId,
    path: 'mixer/check',
    input: r.attributes,
    result: {
      status: r.status,
      decidedBy: r.decidedBy,
      rules: r.rules,
      calls: r.calls,
      referenced: r.referenced,
      validDuration: r.validDuration,
      validUseCount: r.validUseCount,
    },
    requested_by: r.caller,
    destination: r.destination,
    timestamp: r.time,
    metrics: { timer_mixer_check_ns: Math.round(r.durationMs * 1e6) },
    bundles: { config: { revision: String(r.configGeneration) } },
  };
}

/** Batches POSTed as a JSON array of {@link opaEvent}s; any answer but 2xx fails the batch. */
export class HttpSink implements Sink {
  readonly kind = 'http';
  readonly framing = JSON_ARRAY;
  constructor(
    private readonly settings: DecisionLogSettings,
    private readonly handler: string,
  ) {}

  encode(record: LoggedDecision): string {
    return JSON.stringify(opaEvent(record, this.handler));
  }

  async write(batch: Batch): Promise<void> {
    const r = await fetch(this.settings.url!, {
      method: 'POST',
      headers: { ...this.settings.headers, 'content-type': 'application/json' },
      body: batch.data,
      signal: AbortSignal.timeout(this.settings.timeoutMs),
    });
    await r.arrayBuffer().catch(() => undefined);
    if (r.status < 200 || r.status >= 300) throw new Error(`${this.settings.url} answered ${r.status}`);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * A capped Redis stream of batches: one entry per written batch (`XADD <key> MAXLEN ~ <maxLen> *
 * n <records> d <JSON array of records>`), so the cost per record is a share of one command, not a
 * command. The array goes out as the batch's bytes (no string of the whole batch is ever built: a
 * half-megabyte string costs more to make, measure and encode than the records' JSON itself).
 * Entry ids are the write times in ms; a record's own `time` is at most one flush interval
 * earlier. `mixctl decisions --since` reads the time range and filters on each record's time.
 */
export class RedisStreamSink implements Sink {
  readonly kind = 'redis';
  readonly framing = JSON_ARRAY;
  constructor(
    private readonly redis: RedisConnection,
    readonly key: string,
    private readonly maxLen: number,
  ) {}

  encode(record: LoggedDecision): string {
    return JSON.stringify(record);
  }

  async write(batch: Batch): Promise<void> {
    await this.redis.xadd(this.key, 'MAXLEN', '~', String(this.maxLen), '*', 'n', String(batch.count), 'd', batch.data);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
