import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import pino from 'pino';
import type { Logger } from 'pino';
import { Counter } from 'prom-client';
import { PermanentError } from '../../src/sdk';
import type { AdapterEnv, Handler, InstanceValue } from '../../src/sdk';
import { levelOf } from './config';
import type { LineLevel, StdioSettings } from './config';

type Destination = ReturnType<typeof pino.destination>;

/** Most bytes waiting to be written; lines beyond it are dropped and counted. */
export const MAX_BUFFER_BYTES = 16 * 1024 * 1024;
/** Longest close() waits for buffered lines to be written, ms. */
const CLOSE_TIMEOUT_MS = 5000;
/** At most one warning per this many ms about write problems. */
const WARN_EVERY_MS = 60_000;
/** Line fields the handler sets; a variable of the same name is written as `variables.<name>`. */
const RESERVED = new Set(['level', 'time', 'instance']);

/** One line: its level and fields. */
interface Line {
  level: LineLevel;
  fields: Record<string, unknown>;
}

function lineOf(settings: StdioSettings, inst: InstanceValue, now: number): Line {
  if (inst.template !== 'logentry') throw new PermanentError(`stdio: instance ${inst.name} is a ${inst.template}, not a logentry`);
  const ts = inst.fields.timestamp;
  let ms = now;
  if (ts !== undefined && ts !== null) {
    ms = typeof ts === 'number' ? ts : typeof ts === 'string' ? Date.parse(ts) : NaN;
    if (!Number.isFinite(ms) || Math.abs(ms) > 8.64e15)
      throw new PermanentError(`stdio: instance ${inst.name} field timestamp must be a time, got ${JSON.stringify(ts)}`);
  }
  const fields: Record<string, unknown> = { time: new Date(ms).toISOString(), instance: inst.name };
  const vars = inst.fields.variables;
  if (typeof vars === 'object' && vars !== null) {
    for (const [k, v] of Object.entries(vars)) fields[RESERVED.has(k) ? `variables.${k}` : k] = v;
  }
  return { level: levelOf(settings, inst.fields.severity), fields };
}

/**
 * Writes each `logentry` instance as one JSON line (`level`, `time`, `instance`, then the
 * variables) through pino to stdout, stderr or a file. Writes are buffered (asynchronous); `close()`
 * writes what is buffered, closes a file (never stdout/stderr) and is safe twice.
 */
export class StdioHandler implements Handler {
  private closing: Promise<void> | undefined;
  private lastWarn = -Infinity;

  private constructor(
    private readonly settings: StdioSettings,
    private readonly env: AdapterEnv,
    private readonly dest: Destination,
    private readonly logger: Logger,
  ) {}

  /** Opens the destination (a file is created or appended to; rejects when it cannot be opened). */
  static async open(settings: StdioSettings, env: AdapterEnv): Promise<StdioHandler> {
    let fd: number;
    if (typeof settings.destination === 'string') {
      // Opened here, not by the destination, so a failure is an error of create() and leaves nothing behind.
      const file = settings.destination;
      try {
        await fs.promises.mkdir(path.dirname(file), { recursive: true });
        fd = await promisify(fs.open)(file, 'a');
      } catch (err) {
        throw new Error(`stdio: cannot open ${file}: ${(err as Error).message}`, { cause: err });
      }
    } else fd = settings.destination;
    const dest = pino.destination({ fd, sync: false, maxLength: MAX_BUFFER_BYTES });
    const logger = pino({ level: settings.outputLevel, base: undefined, timestamp: false, formatters: { level: (label: string) => ({ level: label }) } }, dest);
    const handler = new StdioHandler(settings, env, dest, logger);
    const dropped = new Counter({
      name: 'mixer_stdio_dropped_total',
      help: 'Log lines dropped because the output could not keep up.',
      registers: [env.registry],
    });
    dest.on('drop', () => {
      dropped.inc();
      handler.warn({}, 'stdio: output buffer full; lines dropped');
    });
    dest.on('error', (err: Error) => handler.warn({ err: err.message }, 'stdio: write failed'));
    return handler;
  }

  /**
   * Writes one line per instance at its severity's level (lines below `outputLevel` are skipped).
   * Throws {@link PermanentError}, writing nothing, for an instance that is not a `logentry` or has a
   * `timestamp` that is not a time (epoch ms or RFC 3339).
   */
  report(instances: readonly InstanceValue[]): void {
    if (this.closing) throw new Error('stdio: handler is closed');
    const now = Date.now();
    const lines = instances.map((i) => lineOf(this.settings, i, now));
    for (const line of lines) this.logger[line.level](line.fields);
  }

  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      const dest = this.dest;
      const timers = this.env.timers;
      const timer = timers.setTimeout(() => done(), CLOSE_TIMEOUT_MS);
      const done = (): void => {
        timers.clear(timer);
        resolve();
      };
      if ((dest as unknown as { destroyed?: boolean }).destroyed) return done();
      dest.once('close', done);
      try {
        dest.end();
      } catch {
        done();
      }
    });
    return this.closing;
  }

  private warn(obj: Record<string, unknown>, msg: string): void {
    const now = Date.now();
    if (now - this.lastWarn < WARN_EVERY_MS) return;
    this.lastWarn = now;
    this.env.logger.warn(obj, msg);
  }
}
