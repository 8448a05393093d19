import { waitFor } from './wait';

/** One Server-Sent Event as received. */
export interface SseEvent {
  event: string;
  data: string;
  /** `data` parsed as JSON (undefined when it is not JSON). */
  json: any;
}

/** An open event stream read in the background; `close` aborts it. */
export class SseStream {
  readonly events: SseEvent[] = [];
  status = 0;
  body = '';
  private readonly abort = new AbortController();
  private done: Promise<void> = Promise.resolve();

  private constructor() {}

  /** GETs `url` and, for a 200, keeps reading events into {@link events}; other answers fill `status` and `body`. */
  static async open(url: string, headers: Record<string, string> = {}): Promise<SseStream> {
    const s = new SseStream();
    const r = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: s.abort.signal });
    s.status = r.status;
    if (r.status !== 200 || !r.body) {
      s.body = await r.text();
      return s;
    }
    const reader = r.body.getReader();
    const decoder = new TextDecoder();
    s.done = (async () => {
      let buf = '';
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          buf += decoder.decode(value, { stream: true });
          let i: number;
          while ((i = buf.indexOf('\n\n')) !== -1) {
            s.push(buf.slice(0, i));
            buf = buf.slice(i + 2);
          }
        }
      } catch {
        /* aborted */
      }
    })();
    return s;
  }

  private push(block: string): void {
    let event = 'message';
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) continue;
      if (line.startsWith('event: ')) event = line.slice(7);
      else if (line.startsWith('data: ')) data.push(line.slice(6));
    }
    if (data.length === 0) return;
    const text = data.join('\n');
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    this.events.push({ event, data: text, json });
  }

  /** Events of one kind (`check`, `report`, `dropped`, `open`). */
  of(kind: string): SseEvent[] {
    return this.events.filter((e) => e.event === kind);
  }

  /** Waits until `n` events of `kind` have arrived. */
  waitFor(kind: string, n: number, timeoutMs = 5000): Promise<SseEvent[]> {
    return waitFor(`${n} ${kind} event(s) (have ${this.of(kind).length})`, () => (this.of(kind).length >= n ? this.of(kind) : undefined), timeoutMs);
  }

  async close(): Promise<void> {
    this.abort.abort();
    await this.done;
  }
}
