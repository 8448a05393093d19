/**
 * The load of the soak bench (`soak.ts`): request bodies, a closed-loop capacity probe and an open-loop
 * run that also samples the server's RSS, and reading `istio_requests_total` to see the report queue
 * catch up. Requests go to 127.0.0.1 only.
 */
import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import { frontendToBackend } from '../test/support/traffic';

/** Share of the requests that are reports. */
export const REPORT_SHARE = 0.2;
/** Bags per report. */
export const BATCH = 20;
/** Most requests in flight in the open loop; past it a request is shed (counted as an error). */
const MAX_IN_FLIGHT = 2000;

export function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

/** Least-squares slope of y over x. */
export function slope(points: ReadonlyArray<readonly [number, number]>): number {
  const n = points.length;
  if (n < 2) return Number.NaN;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const sxy = points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0);
  const sxx = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  return sxy / sxx;
}

/** Request bodies: checks of single bags (some denied: frontend → backend), reports of 20 bags. */
export function bodies(): { checks: Buffer[]; reports: Buffer[] } {
  const bags = frontendToBackend(512, 3).map((r, i) => {
    // Half the checks come from another caller, so the deny rule allows them.
    if (i % 2 === 1) return { ...r.bag, 'source.labels': { app: `caller-${i % 16}`, version: 'v1' } };
    return r.bag;
  });
  const checks = bags.map((bag) => Buffer.from(JSON.stringify({ attributes: bag })));
  const reports = Array.from({ length: 64 }, (_, i) => Buffer.from(JSON.stringify({ attributes: frontendToBackend(BATCH, 100 + i).map((r) => r.bag) })));
  return { checks, reports };
}

export interface Outcome {
  kind: 'check' | 'report' | 'baseline';
  ok: boolean;
  /** HTTP status; 0 for a transport error or a timeout (10 s). */
  status: number;
  ms: number;
  /** Seconds since the soak started, at send. */
  at: number;
}

export function send(agent: http.Agent, port: number, route: string, body: Buffer): Promise<{ status: number; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: route,
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': body.length },
        timeout: 10_000,
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - t0 }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve({ status: 0, ms: performance.now() - t0 }));
    req.end(body);
  });
}

export const expected = (kind: Outcome['kind'], status: number): boolean => (kind === 'report' ? status === 202 : status === 200);

/** Requests counted in `istio_requests_total` (every report bag is one). */
export async function counted(port: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  let n = 0;
  for (const m of text.matchAll(/^istio_requests_total\{[^}]*\} (\S+)$/gm)) n += Number(m[1]);
  return n;
}

/** Waits until `istio_requests_total` reaches `want` (the report queue has caught up); seconds waited. */
export async function drain(port: number, want: number, limitS = 120): Promise<number> {
  const t0 = performance.now();
  while ((await counted(port)) < want) {
    if (performance.now() - t0 > limitS * 1000) throw new Error(`the report queue did not catch up within ${limitS} s`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return (performance.now() - t0) / 1000;
}

/**
 * Closed loop: `connections` loops sending the mix back to back for `seconds`, then waits until every
 * bag reported is counted. The rate is requests over probe plus catch-up time: what Mixer sustains end
 * to end (a 202 only queues a report; the worker may still be behind).
 */
export async function probe(
  port: number,
  b: ReturnType<typeof bodies>,
  seconds: number,
  connections: number,
): Promise<{ rate: number; errors: number; drainS: number }> {
  const before = await counted(port);
  let reports = 0;
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const end = performance.now() + seconds * 1000;
  let done = 0;
  let errors = 0;
  let i = 0;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (performance.now() < end) {
        const n = i++;
        const kind = n % 5 === 4 ? 'report' : 'check';
        const r = await send(
          agent,
          port,
          kind === 'check' ? '/v1/check' : '/v1/report',
          kind === 'check' ? b.checks[n % b.checks.length] : b.reports[n % b.reports.length],
        );
        done++;
        if (!expected(kind, r.status)) errors++;
        else if (kind === 'report') reports++;
      }
    }),
  );
  agent.destroy();
  const drainS = await drain(port, before + reports * BATCH);
  return { rate: done / (seconds + drainS), errors, drainS };
}

/**
 * Open loop at `rate` requests/s to Mixer for `seconds`, sampling `pid`'s RSS every second, and at
 * `baseRate` checks/s to the bare server on `basePort` meanwhile: the machine's own latency noise.
 */
export async function soak(port: number, pid: number, b: ReturnType<typeof bodies>, rate: number, seconds: number, basePort: number, baseRate: number) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const outcomes: Outcome[] = [];
  const rss: Array<[number, number]> = [];
  let sent = 0;
  let baseSent = 0;
  let inFlight = 0;
  let shed = 0;
  const t0 = performance.now();
  const pending: Array<Promise<void>> = [];
  await new Promise<void>((resolve) => {
    const sample = setInterval(() => rss.push([(performance.now() - t0) / 1000, rssMb(pid)]), 1000);
    const tick = setInterval(() => {
      const elapsed = (performance.now() - t0) / 1000;
      if (elapsed >= seconds) {
        clearInterval(tick);
        clearInterval(sample);
        resolve();
        return;
      }
      const baseDue = Math.floor(elapsed * baseRate);
      while (baseSent < baseDue) {
        const n = baseSent++;
        pending.push(
          send(agent, basePort, '/v1/check', b.checks[n % b.checks.length]).then((r) => {
            outcomes.push({ kind: 'baseline', ok: r.status === 200, status: r.status, ms: r.ms, at: elapsed });
          }),
        );
      }
      const due = Math.floor(elapsed * rate);
      while (sent < due) {
        const n = sent++;
        if (inFlight >= MAX_IN_FLIGHT) {
          shed++;
          continue;
        }
        const kind: 'check' | 'report' = n % Math.round(1 / REPORT_SHARE) === 0 ? 'report' : 'check';
        inFlight++;
        pending.push(
          send(
            agent,
            port,
            kind === 'check' ? '/v1/check' : '/v1/report',
            kind === 'check' ? b.checks[n % b.checks.length] : b.reports[n % b.reports.length],
          ).then((r) => {
            inFlight--;
            outcomes.push({ kind, ok: expected(kind, r.status), status: r.status, ms: r.ms, at: elapsed });
          }),
        );
      }
    }, 5);
  });
  await Promise.all(pending);
  agent.destroy();
  return { outcomes, rss, shed };
}
