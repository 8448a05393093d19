/**
 * The demo's traffic generator: a steady stream of `GET /ping` to the ingress, a share of them
 * from a "mobile" User-Agent, tallied by outcome and backend version and summarised every few seconds.
 */
import * as http from 'node:http';

export const MOBILE_UA = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148 Safari/604.1';
export const DESKTOP_UA = 'Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0';

export interface TrafficOptions {
  /** Ingress base URL, e.g. http://127.0.0.1:8080 */
  url: string;
  /** Requests per second (default 5, at most 200). */
  rate?: number;
  /** Share of mobile clients, 0..1 (default 0.25). */
  mobileShare?: number;
  /** Summary interval, ms (default 10 000). */
  summaryMs?: number;
  print: (line: string) => void;
}

/** Starts sending; returns a stop function. */
export function startTraffic(o: TrafficOptions): () => void {
  const rate = Math.min(200, Math.max(1, o.rate ?? 5));
  const agent = new http.Agent({ keepAlive: true, maxSockets: 32, timeout: 4000 });
  const target = new URL('/ping', o.url);
  let tally = new Map<string, number>();
  const count = (k: string): void => void tally.set(k, (tally.get(k) ?? 0) + 1);
  const one = (): void => {
    const mobile = Math.random() < (o.mobileShare ?? 0.25);
    const req = http.get(target, { agent, headers: { 'user-agent': mobile ? MOBILE_UA : DESKTOP_UA }, timeout: 20_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        let what = `${res.statusCode}`;
        if (res.statusCode === 200) {
          try {
            what += ` backend ${(JSON.parse(Buffer.concat(chunks).toString()) as { backend: { version: string } }).backend.version}`;
          } catch {
            /* count by status only */
          }
        }
        count(`${mobile ? 'mobile' : 'desktop'} → ${what}`);
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => count(`${mobile ? 'mobile' : 'desktop'} → error`));
  };
  const send = setInterval(one, 1000 / rate);
  const summary = setInterval(() => {
    const parts = [...tally.entries()].sort().map(([k, n]) => `${k} ×${n}`);
    tally = new Map();
    o.print(`traffic: ${parts.length > 0 ? parts.join(', ') : 'no answers yet'}`);
  }, o.summaryMs ?? 10_000);
  return () => {
    clearInterval(send);
    clearInterval(summary);
    agent.destroy();
  };
}
