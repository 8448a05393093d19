import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Code, MAX_REGEX_INPUT } from '../../src/sdk';
import type { AdapterEnv, CheckResult, Handler, InstanceValue } from '../../src/sdk';
import type { ListSettings } from './config';
import { compileList, prepareValue } from './matcher';
import type { ListMatcher } from './matcher';
import { fetchList, parseEntries, readListFile } from './source';

/** Longest a provider fetch may take, ms. */
export const FETCH_TIMEOUT_MS = 10_000;
/** At most this many invalid entries are named in one log line. */
const MAX_LOGGED_INVALID = 10;

/**
 * The `list` handler: checks a `listentry` value against overrides plus entries loaded from a
 * provider URL or a file, reloaded every `refreshInterval` on an env timer. Create it with
 * {@link ListHandler.create}, which performs the first load.
 */
export class ListHandler implements Handler {
  private readonly overrides: ListMatcher;
  private fetched: ListMatcher | undefined;
  private digest: string | undefined;
  /** performance.now() of the last successful load; -Infinity before the first. */
  private lastOk = -Infinity;
  private lastError: string | undefined = 'not loaded yet';
  private failing = false;
  private closed = false;
  private readonly abort = new AbortController();

  private constructor(
    private readonly settings: ListSettings,
    private readonly env: AdapterEnv,
  ) {
    const bad: string[] = [];
    this.overrides = compileList(settings.entryType, settings.overrides, (e, reason) => {
      bad.push(`params.overrides[${settings.overrides.indexOf(e)}]: "${e}" ${reason}`);
    });
    if (bad.length > 0) throw new Error(bad.join('; '));
  }

  /**
   * Validates overrides and performs the first load. Throws when an override is invalid for the
   * entry type or when `file` cannot be read; an unreachable `providerUrl` only logs, and the handler
   * starts with overrides alone (stale) and retries every `refreshInterval`.
   */
  static async create(settings: ListSettings, env: AdapterEnv): Promise<ListHandler> {
    const h = new ListHandler(settings, env);
    if (settings.file !== undefined) {
      try {
        h.install(await readListFile(settings.file));
      } catch (err) {
        throw new Error(`params.file: cannot load "${settings.file}": ${(err as Error).message}`, { cause: err });
      }
      h.schedule();
    } else if (settings.providerUrl !== undefined) {
      await h.reload();
      h.schedule();
    }
    return h;
  }

  /** Answers as Istio's list adapter does; see README.md for the table of outcomes. */
  check(instance: InstanceValue): CheckResult {
    const s = this.settings;
    const raw = instance.fields.value;
    if (raw === undefined || raw === null) return this.answer(false, undefined);
    const text = typeof raw === 'string' ? raw : String(raw);
    if (s.entryType === 'REGEX' && text.length > MAX_REGEX_INPUT) {
      return this.cacheable({ code: Code.INVALID_ARGUMENT, message: `value is longer than ${MAX_REGEX_INPUT} characters, the most a REGEX list matches` });
    }
    const value = prepareValue(s.entryType, text);
    if (value === undefined) {
      return this.cacheable({ code: Code.INVALID_ARGUMENT, message: `${text} is not a valid IP address` });
    }
    if (this.overrides.has(value)) return this.answer(true, text);
    if (s.providerUrl !== undefined || s.file !== undefined) {
      if (performance.now() - this.lastOk > s.ttl) {
        return { status: { code: Code.UNAVAILABLE, message: `list is stale: ${this.lastError ?? 'ttl elapsed'}` }, validDuration: 0, validUseCount: 0 };
      }
      if (this.fetched?.has(value)) return this.answer(true, text);
    }
    return this.answer(false, text);
  }

  /** Stops reloading and aborts a fetch in flight. Safe twice and before any use. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.abort.abort();
  }

  private answer(found: boolean, text: string | undefined): CheckResult {
    const shown = text ?? '(absent value)';
    if (this.settings.blacklist) {
      return found ? this.cacheable({ code: Code.PERMISSION_DENIED, message: `${shown} is blacklisted` }) : this.cacheable({ code: Code.OK });
    }
    return found ? this.cacheable({ code: Code.OK }) : this.cacheable({ code: Code.NOT_FOUND, message: `${shown} is not whitelisted` });
  }

  private cacheable(status: CheckResult['status']): CheckResult {
    return { status, validDuration: this.settings.cachingInterval, validUseCount: this.settings.cachingUseCount };
  }

  private schedule(): void {
    if (this.closed) return;
    this.env.timers.setTimeout(() => {
      void this.reload().finally(() => this.schedule());
    }, this.settings.refreshInterval);
  }

  /** One load attempt; never rejects (failures are logged and leave the previous entries in place). */
  private async reload(): Promise<void> {
    const s = this.settings;
    const source = s.file ?? s.providerUrl!;
    try {
      const text = s.file !== undefined ? await readListFile(s.file) : await fetchList(s.providerUrl!, FETCH_TIMEOUT_MS, this.abort.signal);
      if (this.closed) return;
      this.install(text);
      if (this.failing) this.env.logger.info({ source }, 'list: reloaded after failures');
      this.failing = false;
    } catch (err) {
      if (this.closed) return;
      this.lastError = `cannot load ${source}: ${(err as Error).message}`;
      const log = { source, err: (err as Error).message, staleInMs: Math.max(0, this.lastOk + s.ttl - performance.now()) };
      if (!this.failing) this.env.logger.warn(log, 'list: load failed; keeping the previous entries until ttl');
      else this.env.logger.debug(log, 'list: load failed again');
      this.failing = true;
    }
  }

  /** Compiles new list text (skipping invalid entries, logged once per distinct content) and marks it fresh. */
  private install(text: string): void {
    const digest = createHash('sha256').update(text).digest('hex');
    if (digest !== this.digest) {
      const invalid: string[] = [];
      let count = 0;
      const matcher = compileList(this.settings.entryType, parseEntries(text), (e, reason) => {
        count += 1;
        if (invalid.length < MAX_LOGGED_INVALID) invalid.push(`"${e}" ${reason}`);
      });
      if (count > 0) this.env.logger.warn({ skipped: count, examples: invalid }, 'list: skipped invalid entries');
      this.fetched = matcher;
      this.digest = digest;
      this.env.logger.debug({ entries: matcher.size }, 'list: loaded');
    }
    this.lastOk = performance.now();
    this.lastError = undefined;
  }
}
