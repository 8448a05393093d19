import type { Logger } from 'pino';
import type { MixerHttp } from './mixer-http';
import { RouteTable } from '../../routing/select';
import type { PeerAuthPlan, RoutesAnswer } from '../../routing/types';

/** Default poll interval of `GET /v1/routes`, ms: config changes reach proxies well within 1 s. */
export const DEFAULT_ROUTES_POLL_MS = 300;

/**
 * Keeps a proxy's route table and Mixer's config generation current by polling `GET /v1/routes`
 * with `If-None-Match` (an unchanged config costs a bodiless 304). When Mixer cannot be reached
 * the last table keeps serving.
 */
export class RoutesPoller {
  table = new RouteTable([]);
  /** PeerAuthentications (mutual TLS modes), as Mixer last answered. */
  peerAuthentications: readonly PeerAuthPlan[] = [];
  generation: number | undefined;
  epoch: string | undefined;
  lastError: string | undefined;
  polls = 0;
  private etag: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly http: MixerHttp,
    private readonly logger: Logger,
    /** Called after a new answer is in place (a new generation or epoch). */
    private readonly onChange: (answer: RoutesAnswer) => void,
    private readonly intervalMs = DEFAULT_ROUTES_POLL_MS,
  ) {}

  /** Polls once (waiting at most `waitMs` for it), then keeps polling in the background. */
  async start(waitMs = 2000): Promise<void> {
    await Promise.race([this.poll(), new Promise((r) => setTimeout(r, waitMs).unref())]);
    this.loop();
  }

  private loop(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.poll().finally(() => this.loop()), this.intervalMs);
  }

  /** One poll; never throws. */
  async poll(): Promise<void> {
    try {
      const headers: Record<string, string> = this.etag ? { 'if-none-match': this.etag } : {};
      const r = await this.http.request('GET', '/v1/routes', undefined, headers, 2000);
      this.polls++;
      if (r.status === 304) return this.recovered();
      if (r.status !== 200) throw new Error(`GET /v1/routes answered ${r.status}`);
      const answer = JSON.parse(r.body.toString('utf8')) as RoutesAnswer;
      this.table = new RouteTable(answer.routes);
      this.peerAuthentications = answer.peerAuthentications ?? [];
      this.generation = answer.configGeneration;
      this.epoch = answer.epoch;
      this.etag = typeof r.headers.etag === 'string' ? r.headers.etag : undefined;
      this.recovered();
      this.logger.debug({ generation: answer.configGeneration, routes: answer.routes.length }, 'route rules updated');
      this.onChange(answer);
    } catch (err) {
      const msg = (err as Error).message;
      if (msg !== this.lastError) this.logger.warn({ err: msg }, 'cannot read route rules from Mixer; the last ones keep serving');
      this.lastError = msg;
    }
  }

  private recovered(): void {
    if (this.lastError) this.logger.info('route rules from Mixer again');
    this.lastError = undefined;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }
}
