import type { MixerClient } from './client';
import { errorFromAnswer } from './client';
import { CliError, EXIT, usageError } from './errors';
import { writeErr, writeOut } from './output';

/** `mixctl tap` flags, as commander gives them. */
export interface TapFlags {
  source?: string;
  destination?: string;
  kind?: string;
  denied?: boolean;
  match?: string;
  rate?: string;
  maxEvents?: string;
}

/** A tap event as received (see docs/observe.md); every field may be missing. */
interface EventJson {
  time?: string;
  attributes?: Record<string, unknown>;
  status?: { code?: number; message?: string };
  decidedBy?: { rule?: string };
  durationMs?: number;
  dropped?: number;
}

const text = (v: unknown): string | undefined => (typeof v === 'string' || typeof v === 'number' ? String(v) : undefined);

/** `source app → destination` of an event's attributes. */
function route(a: Record<string, unknown>): string {
  const labels = a['source.labels'] as Record<string, string> | undefined;
  const src = labels?.app ?? text(a['source.workload.name']) ?? text(a['source.ip']) ?? '?';
  const dst = text(a['destination.service.name']) ?? text(a['destination.service.host']) ?? text(a['destination.workload.name']) ?? '?';
  return `${src} → ${dst}`;
}

const ms = (v: unknown): string => (typeof v === 'number' ? `${Number(v.toFixed(3))}ms` : '-');

/**
 * One line per event, as `linkerd viz tap` prints: time, kind, source → destination, method and path,
 * then for a check its verdict (and the rule that denied) and decision time, for a report the response
 * code and its latency.
 */
export function tapLine(kind: string, e: EventJson): string {
  const a = e.attributes ?? {};
  const req = `${text(a['request.method']) ?? '-'} ${text(a['request.path']) ?? text(a['request.host']) ?? '-'}`;
  if (kind === 'check') {
    const s = e.status ?? {};
    const verdict = s.code === 0 ? 'OK' : `code=${s.code} ${JSON.stringify(s.message ?? '')}${e.decidedBy ? ` rule=${e.decidedBy.rule}` : ''}`;
    return `${e.time ?? ''} check  ${route(a)}  ${req}  ${verdict}  ${ms(e.durationMs)}`;
  }
  return `${e.time ?? ''} report ${route(a)}  ${req}  ${text(a['response.code']) ?? '-'}  ${ms(a['response.duration'])}`;
}

/** The query of `GET /v1/tap` for the flags. @throws CliError (exit 2) for a bad flag. */
export function tapQuery(f: TapFlags): Record<string, string | undefined> {
  if (f.kind !== undefined && f.kind !== 'check' && f.kind !== 'report') throw usageError(`--kind: ${JSON.stringify(f.kind)} is not check or report`);
  if (f.match !== undefined) {
    try {
      JSON.parse(f.match);
    } catch (err) {
      throw usageError(`--match: not JSON: ${(err as Error).message}`);
    }
  }
  if (f.rate !== undefined && !/^\d+$/.test(f.rate)) throw usageError(`--rate: ${JSON.stringify(f.rate)} is not a positive integer`);
  return { source: f.source, destination: f.destination, kind: f.kind, denied: f.denied ? 'true' : undefined, match: f.match, rate: f.rate };
}

/**
 * `mixctl tap`: streams `GET /v1/tap` until Ctrl-C (or `--max-events`), one line per event (`-o json`:
 * one JSON object per line); drop reports go to stderr. Exit 0 when ended by the user.
 */
export async function tapCommand(client: MixerClient, json: boolean, flags: TapFlags): Promise<void> {
  const max = flags.maxEvents === undefined ? Infinity : Number(flags.maxEvents);
  if (!(max > 0)) throw usageError(`--max-events: ${JSON.stringify(flags.maxEvents)} is not a positive integer`);
  const url = client.urlOf('/v1/tap', tapQuery(flags));
  const abort = new AbortController();
  const stop = (): void => abort.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  let left = max;
  const headers: Record<string, string> = { accept: 'text/event-stream' };
  if (client.options.token) headers.authorization = `Bearer ${client.options.token}`;
  try {
    let res: Response;
    // --timeout bounds the wait for the answer's headers only: the stream itself lasts until stopped.
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      abort.abort();
    }, client.options.timeoutMs);
    try {
      res = await fetch(url, { headers, signal: abort.signal });
    } catch (err) {
      if (timedOut)
        throw new CliError(EXIT.UNREACHABLE, `cannot reach Mixer at ${client.options.url}: no answer within ${client.options.timeoutMs} ms (--timeout)`);
      if (abort.signal.aborted) return;
      throw new CliError(
        EXIT.UNREACHABLE,
        `cannot reach Mixer at ${client.options.url}: ${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}`,
      );
    } finally {
      clearTimeout(timer);
    }
    if (res.status !== 200 || !res.body) throw errorFromAnswer(res.status, await res.text(), 'GET', '/v1/tap');
    await readEvents(res.body, abort, (event, data) => {
      if (event === 'dropped') return writeErr(`# dropped ${(JSON.parse(data) as EventJson).dropped} event(s): over the tap's rate or read too slowly`);
      if (event !== 'check' && event !== 'report') return;
      writeOut(json ? data : tapLine(event, JSON.parse(data) as EventJson));
      if (--left <= 0) abort.abort();
    });
  } finally {
    process.removeListener('SIGINT', stop);
    process.removeListener('SIGTERM', stop);
  }
}

/** Reads Server-Sent Events until the stream ends or `abort` fires. */
async function readEvents(body: ReadableStream<Uint8Array>, abort: AbortController, on: (event: string, data: string) => void): Promise<void> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  try {
    while (!abort.signal.aborted) {
      const { value, done } = await reader.read();
      if (done) {
        if (!abort.signal.aborted) throw new CliError(EXIT.ERROR, 'the tap ended: Mixer closed the stream (shutting down?)');
        return;
      }
      buf += decoder.decode(value, { stream: true });
      let i: number;
      while ((i = buf.indexOf('\n\n')) !== -1 && !abort.signal.aborted) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        let event = 'message';
        let data = '';
        for (const line of block.split('\n')) {
          if (line.startsWith('event: ')) event = line.slice(7);
          else if (line.startsWith('data: ')) data += line.slice(6);
        }
        if (data !== '') on(event, data);
      }
    }
  } catch (err) {
    if (abort.signal.aborted) return;
    throw err;
  } finally {
    void reader.cancel().catch(() => undefined);
  }
}
