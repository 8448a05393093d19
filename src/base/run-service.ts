import type { Logger } from 'pino';
import { createLogger } from './log';

/** Something `mixer <command>` runs until a signal: serve, worker, sidecar, ingress. */
export interface Service {
  /** Stops taking work, drains what is in hand, then resolves. */
  close(): Promise<void>;
}

/**
 * Starts a service and stops it cleanly on SIGTERM/SIGINT: drains, then exits 0 (1 if the drain fails).
 * When `start` throws, `startFailed` may explain the error on stderr and return the exit code;
 * returning undefined rethrows it.
 */
export async function runService(
  level: string | (() => string),
  start: (logger: Logger) => Promise<Service>,
  startFailed: (err: unknown) => number | undefined,
): Promise<void> {
  let logger: Logger | undefined;
  let running: Service;
  try {
    logger = createLogger(typeof level === 'function' ? level() : level);
    running = await start(logger);
  } catch (err) {
    const code = startFailed(err);
    if (code === undefined) throw err;
    logger?.flush();
    process.exit(code);
  }
  const log = logger;
  const stop = (signal: string): void => {
    log.info({ signal }, 'signal received: draining');
    running.close().then(
      () => {
        log.flush();
        process.exit(0);
      },
      (e: unknown) => {
        log.error({ err: e }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
