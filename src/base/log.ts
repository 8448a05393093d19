import pino from 'pino';
import type { Logger } from 'pino';

/** The process logger: JSON lines to stderr (stdout stays free for the stdio adapter), level from `MIXER_LOG_LEVEL`. */
export function createLogger(level = process.env.MIXER_LOG_LEVEL ?? 'info'): Logger {
  return pino({ name: 'mixer', level, base: { pid: process.pid } }, pino.destination({ fd: 2, sync: false }));
}

/** A logger that drops everything (tests, benchmarks). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
