/**
 * The life of an isolated handler's worker thread and the calls in flight to it: start, calls with
 * deadlines, hang detection (a ping after a call timed out), restart with backoff after an exit, close.
 */
import { TimeoutError } from '../base/timeout';
import type { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { FromWorker, IsolatedOp, WireError } from './isolation-protocol';

/** What the worker says once its handler is created. */
export type WorkerReady = Extract<FromWorker, { t: 'ready' }>;

/** Options of {@link WorkerCalls}. Durations are ms. */
export interface WorkerCallsOptions {
  /** Handler reference, for messages. */
  name: string;
  /** Starts a new worker thread (each start and each restart). */
  spawn: () => Worker;
  logger: Logger;
  /** Receives each log line the worker forwards. */
  onLog: (line: string) => void;
  lifecycleTimeoutMs: number;
  hangTimeoutMs: number;
  backoffMs: number;
  maxBackoffMs: number;
  /** Uptime after which a crash no longer counts as "in a row" for the backoff. */
  stableMs: number;
  /** Rebuilds an error the worker sent. */
  errorOf: (e: WireError) => Error;
  /** Called as each restart (after a crash or a hang) starts a new worker. */
  onRestart?: () => void;
}

interface Pending {
  op: IsolatedOp;
  args: unknown[];
  posted: boolean;
  timer: NodeJS.Timeout;
  resolve(v: unknown): void;
  reject(err: Error): void;
}

type State = 'starting' | 'ready' | 'backoff' | 'closed';

/** One worker at a time, restarted when it dies, and the calls waiting for its answers. */
export class WorkerCalls {
  /** Restarts after a crash or a hang. */
  restarts = 0;
  private state: State = 'starting';
  private worker: Worker | undefined;
  private hung: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private crashesInRow = 0;
  private upSince = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private probe: { id: number; timer: NodeJS.Timeout } | undefined;
  private closing: Promise<void> | undefined;

  constructor(private readonly opts: WorkerCallsOptions) {}

  /** Thread id of the worker while it is ready. */
  get threadId(): number | undefined {
    return this.state === 'ready' ? this.worker?.threadId : undefined;
  }

  /** First start: resolves once the handler is created in the worker; rejects (no restart) when that fails. */
  start(): Promise<WorkerReady> {
    return new Promise((resolve, reject) => this.launch({ resolve, reject }));
  }

  /**
   * Sends a call; rejects when no answer comes within `timeoutMs` (then probes the worker for a
   * hang), at once while the worker is down after a crash, and when the handler is closed.
   */
  call(op: IsolatedOp, args: unknown[], timeoutMs: number): Promise<unknown> {
    if (this.state === 'closed') return Promise.reject(new Error(`handler ${this.opts.name} (isolated) is closed`));
    if (this.state === 'backoff') return Promise.reject(new Error(`handler ${this.opts.name} (isolated): its worker is down and restarting`));
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      const timer = setTimeout(() => this.timedOut(id, timeoutMs), timeoutMs);
      timer.unref();
      const p: Pending = { op, args, posted: false, timer, resolve, reject };
      this.pending.set(id, p);
      if (this.state === 'ready') this.post(id, p);
    });
  }

  /** Asks the handler to close (waiting at most `waitMs`), then ends the worker. Safe twice. */
  close(waitMs: number): Promise<void> {
    this.closing ??= (async () => {
      const w = this.worker;
      const wasReady = this.state === 'ready';
      this.state = 'closed';
      if (this.restartTimer) clearTimeout(this.restartTimer);
      this.stopProbe();
      if (w && wasReady) {
        await new Promise<void>((resolve) => {
          const id = this.nextId++;
          const timer = setTimeout(resolve, waitMs);
          timer.unref();
          const done = (): void => {
            clearTimeout(timer);
            resolve();
          };
          const fail = (err: Error): void => {
            this.opts.logger.warn({ err, handler: this.opts.name }, 'isolated handler close failed');
            done();
          };
          this.pending.set(id, { op: 'close', args: [], posted: true, timer, resolve: done, reject: fail });
          try {
            w.postMessage({ t: 'call', id, op: 'close', args: [] });
          } catch {
            done();
          }
        });
      }
      this.failPending(new Error(`handler ${this.opts.name} (isolated) is closed`));
      this.worker = undefined;
      if (w) await w.terminate();
    })();
    return this.closing;
  }

  private launch(first?: { resolve(r: WorkerReady): void; reject(err: Error): void }): void {
    this.state = 'starting';
    const w = this.opts.spawn();
    w.unref();
    this.worker = w;
    let ready = false;
    let failure: Error | undefined;
    const startTimer = setTimeout(() => {
      failure = new Error(`handler ${this.opts.name} (isolated): create did not finish within ${this.opts.lifecycleTimeoutMs} ms`);
      void w.terminate();
    }, this.opts.lifecycleTimeoutMs);
    startTimer.unref();
    w.on('message', (m: FromWorker) => {
      if (m.t === 'log') return this.opts.onLog(m.line);
      if (this.worker !== w) return;
      if (m.t === 'ready') {
        ready = true;
        clearTimeout(startTimer);
        this.state = 'ready';
        this.upSince = Date.now();
        if (first) first.resolve(m);
        else this.opts.logger.info({ handler: this.opts.name, restarts: this.restarts, threadId: w.threadId }, 'isolated handler worker restarted');
        for (const [id, p] of this.pending) if (!p.posted) this.post(id, p);
      } else if (m.t === 'fatal') {
        clearTimeout(startTimer);
        failure = this.opts.errorOf(m.error);
        void w.terminate();
      } else if (m.t === 'reply') {
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        clearTimeout(p.timer);
        if (m.ok) p.resolve(m.value);
        else p.reject(this.opts.errorOf(m.error));
      } else if (m.t === 'pong' && this.probe?.id === m.id) {
        this.stopProbe();
      }
    });
    w.on('error', (err) => {
      failure ??= err; // an uncaught exception in the worker: 'exit' follows
    });
    w.on('exit', (code) => {
      clearTimeout(startTimer);
      if (this.worker !== w) return;
      this.worker = undefined;
      this.stopProbe();
      const reason = this.hung === w ? 'hung (no answer to a ping) and was terminated' : failure ? `failed: ${failure.message}` : `exited with code ${code}`;
      if (first && !ready) {
        this.state = 'closed';
        first.reject(failure ?? new Error(`handler ${this.opts.name} (isolated): worker exited with code ${code} before the handler was created`));
        return;
      }
      if (this.state === 'closed') return;
      this.failPending(new Error(`handler ${this.opts.name} (isolated): its worker ${reason}`));
      if (ready && Date.now() - this.upSince >= this.opts.stableMs) this.crashesInRow = 0;
      const delay = Math.min(this.opts.backoffMs * 2 ** this.crashesInRow, this.opts.maxBackoffMs);
      this.crashesInRow++;
      this.state = 'backoff';
      this.opts.logger.error(
        { handler: this.opts.name, exitCode: code, err: failure, restartInMs: delay },
        `isolated handler worker ${reason}; restarting it in ${delay} ms`,
      );
      this.restartTimer = setTimeout(() => {
        this.restartTimer = undefined;
        if (this.state !== 'backoff') return;
        this.restarts++;
        this.opts.onRestart?.();
        this.launch();
      }, delay);
      this.restartTimer.unref();
    });
  }

  private post(id: number, p: Pending): void {
    try {
      this.worker!.postMessage({ t: 'call', id, op: p.op, args: p.args });
      p.posted = true;
    } catch (err) {
      this.pending.delete(id);
      clearTimeout(p.timer);
      p.reject(new Error(`handler ${this.opts.name} (isolated): ${p.op} arguments cannot be sent to the worker: ${(err as Error).message}`));
    }
  }

  private timedOut(id: number, ms: number): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    p.reject(new TimeoutError(`handler ${this.opts.name} (isolated): ${p.op}`, ms));
    if (p.posted && this.state === 'ready') this.checkAlive();
  }

  /** Pings the worker; no pong within `hangTimeoutMs` means its thread is stuck: terminate it (exit restarts it). */
  private checkAlive(): void {
    const w = this.worker;
    if (this.probe || !w) return;
    const id = this.nextId++;
    const timer = setTimeout(() => {
      this.probe = undefined;
      if (this.worker !== w || this.state === 'closed') return;
      this.hung = w;
      this.opts.logger.error(
        { handler: this.opts.name, threadId: w.threadId },
        `isolated handler worker did not answer a ping within ${this.opts.hangTimeoutMs} ms (stuck in synchronous code?); terminating it`,
      );
      void w.terminate();
    }, this.opts.hangTimeoutMs);
    timer.unref();
    this.probe = { id, timer };
    w.postMessage({ t: 'ping', id });
  }

  private stopProbe(): void {
    if (this.probe) clearTimeout(this.probe.timer);
    this.probe = undefined;
  }

  private failPending(err: Error): void {
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) {
      clearTimeout(p.timer);
      p.reject(err);
    }
  }
}
