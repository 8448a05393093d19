import { watch } from 'chokidar';
import type { FSWatcher } from 'chokidar';
import type { Logger } from 'pino';

/** Options of {@link ConfigWatch}. */
export interface ConfigWatchOptions {
  /** The config directory; files and folders whose names start with `.` are ignored. */
  dir: string;
  /** Quiet time after the last file event before the reload, ms. */
  debounceMs: number;
  logger: Logger;
  /** Runs one reload; a rejection is logged. */
  reload: (reason: string) => Promise<void>;
}

/** Watches the config directory and asks for one reload per burst of file events. */
export class ConfigWatch {
  private watcher: FSWatcher | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly opts: ConfigWatchOptions) {}

  /** Starts watching; false when it already was, or is closed. */
  start(): boolean {
    if (this.watcher || this.closed) return false;
    const { dir, logger } = this.opts;
    this.watcher = watch(dir, { ignoreInitial: true, awaitWriteFinish: false, ignored: (p) => /(^|[/\\])\.[^/\\]/.test(p) && p !== dir });
    this.watcher.on('all', (_event, path) => this.schedule(`file ${path} changed`));
    this.watcher.on('error', (err) => logger.error({ err }, 'config watcher failed'));
    return true;
  }

  /** Asks for a reload once `debounceMs` pass without another ask; bursts of events collapse into one. */
  schedule(reason: string): void {
    if (this.closed) return;
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      this.opts.reload(reason).catch((err) => this.opts.logger.error({ err }, 'config reload crashed'));
    }, this.opts.debounceMs);
  }

  /** Stops watching and drops a reload not yet due. Safe twice. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.debounce) clearTimeout(this.debounce);
    await this.watcher?.close();
    this.watcher = undefined;
  }
}
