/**
 * An open-loop HTTP load generator: sends GETs at a fixed rate whatever the answers do (so a slow
 * server cannot slow the offered load down and hide its latency), and records each latency with
 * sub-millisecond resolution (autocannon's histogram stops at whole milliseconds, too coarse for
 * a proxy hop).
 */
import * as http from 'node:http';

export interface OpenLoopOptions {
  port: number;
  path: string;
  /** Host header (e.g. the service name a sidecar routes by). */
  host?: string;
  /** Requests per second. */
  rate: number;
  seconds: number;
}

export interface OpenLoopResult {
  /** Latencies of 2xx answers, ms, sorted. */
  latencies: number[];
  sent: number;
  non2xx: number;
  errors: number;
  /** Answers per second over the run. */
  achieved: number;
  /** Share of one core this process used meanwhile. */
  clientCpu: number;
}

/** The `p` quantile (0..1) of sorted values. */
export function quantile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
}

/** Runs the load and resolves once every request sent has been answered (or failed). */
export function openLoop(o: OpenLoopOptions): Promise<OpenLoopResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256, timeout: 4000 });
  const total = Math.round(o.rate * o.seconds);
  const latencies: number[] = [];
  let sent = 0;
  let done = 0;
  let non2xx = 0;
  let errors = 0;
  const headers = o.host ? { host: o.host } : {};
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  return new Promise((resolve) => {
    const finish = (): void => {
      if (++done < total) return;
      const elapsed = (performance.now() - t0) / 1000;
      const cpu = process.cpuUsage(cpu0);
      agent.destroy();
      latencies.sort((a, b) => a - b);
      resolve({ latencies, sent, non2xx, errors, achieved: (total - errors) / elapsed, clientCpu: (cpu.user + cpu.system) / 1e6 / elapsed });
    };
    const fire = (): void => {
      const start = performance.now();
      const req = http.get({ host: '127.0.0.1', port: o.port, path: o.path, headers, agent }, (res) => {
        res.resume();
        res.on('end', () => {
          const code = res.statusCode ?? 0;
          if (code >= 200 && code < 300) latencies.push(performance.now() - start);
          else non2xx++;
          finish();
        });
      });
      req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
      req.on('error', () => {
        errors++;
        finish();
      });
    };
    const tick = (): void => {
      const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * o.rate));
      while (sent < due) {
        sent++;
        fire();
      }
      if (sent < total) setTimeout(tick, 1);
    };
    tick();
  });
}
