/**
 * The adapter conformance kit: mocha `describe`/`it` blocks every adapter's tests call, built-in or
 * third-party. It checks what the runtime relies on: identity, templates, schema, lifecycle (create,
 * close twice, close without use, no timers left behind) and permanent vs retryable report errors.
 *
 * Use inside a mocha spec file: `runAdapterConformance(myFactory, { validParams: {...} })`.
 */
import assert from 'node:assert/strict';
import { TEMPLATES } from '../templates/templates';
import { ADAPTER_CAPABILITIES } from './decision';
import { createAdapterEnv } from './env';
import type { AdapterEnvOptions, OwnedAdapterEnv } from './env';
import { isPermanent } from './adapter';
import type { AdapterFactory, Handler, InstanceValue, ReportContext } from './adapter';
import { validateParams } from './params';

/** A report call the adapter is expected to fail in a given way. */
export interface ReportScenario {
  /** Params for the handler in this scenario (validated first); default `validParams`. */
  params?: unknown;
  instances: readonly InstanceValue[];
  /** Default `{jobId: 'conformance-job', attempt: 1}`. */
  ctx?: ReportContext;
}

/** Options of {@link runAdapterConformance}. */
export interface ConformanceOptions {
  /** Params the schema must accept; handlers under test are created from them (after defaults). */
  validParams: unknown;
  /** Params the schema must reject, each on its own (each yields at least one error). */
  invalidParams?: readonly unknown[];
  /** Extra env settings (e.g. `redis`, `keyPrefix`); called once per env. Default: no Redis, a unique prefix. */
  envOptions?: () => Partial<AdapterEnvOptions>;
  /** Report adapters: data that must fail with a permanent error ({@link isPermanent}). */
  badReport?: ReportScenario;
  /** Report adapters: a call that must fail with a retryable (non-permanent) error, e.g. a sink that is down. */
  retryableReport?: ReportScenario;
  /** Uses a handler (e.g. one check call) before the "close twice after use" test; default: no use. */
  use?: (handler: Handler) => void | Promise<void>;
  /** How long to wait for timers to be released after close, ms (default 2000). */
  settleMs?: number;
}

/** Polls `cond` every `intervalMs` (default 10) until it is truthy; rejects after `timeoutMs` (default 2000). */
export async function waitFor<T>(cond: () => T | Promise<T>, opts: { timeoutMs?: number; intervalMs?: number; what?: string } = {}): Promise<NonNullable<T>> {
  const deadline = Date.now() + (opts.timeoutMs ?? 2000);
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${opts.what ?? 'condition'}`);
    await new Promise((r) => realSetTimeout(r, opts.intervalMs ?? 10));
  }
}

/** Captured at load so the timer tracker below never sees the kit's own waits. */
const realSetTimeout = setTimeout;
let envCounter = 0;

function freshEnv(factory: AdapterFactory, opts: ConformanceOptions): OwnedAdapterEnv {
  envCounter += 1;
  return createAdapterEnv({
    handlerName: `conformance/${factory.name}-${envCounter}`,
    keyPrefix: `mixer-conformance:${process.pid}:${Date.now()}:${envCounter}:`,
    ...opts.envOptions?.(),
  });
}

function configOf(factory: AdapterFactory, params: unknown): unknown {
  const r = validateParams(factory, params, 'params');
  assert.deepEqual(r.errors, [], `params must be valid for ${factory.name}`);
  return r.config;
}

/** Global timers started while tracking is on and not yet fired or cleared. */
class TimerTracker {
  readonly pending = new Map<NodeJS.Timeout, 'timeout' | 'interval'>();
  private restore: (() => void) | undefined;

  start(): void {
    const g = globalThis as unknown as Record<string, unknown>;
    const saved = { setTimeout: g.setTimeout, setInterval: g.setInterval, clearTimeout: g.clearTimeout, clearInterval: g.clearInterval };
    const pending = this.pending;
    const origSetTimeout = saved.setTimeout as typeof setTimeout;
    const origSetInterval = saved.setInterval as typeof setInterval;
    const origClearTimeout = saved.clearTimeout as typeof clearTimeout;
    const origClearInterval = saved.clearInterval as typeof clearInterval;
    g.setTimeout = (fn: (...a: unknown[]) => void, ms?: number, ...args: unknown[]) => {
      const t: NodeJS.Timeout = origSetTimeout(
        (...a: unknown[]) => {
          pending.delete(t);
          fn(...a);
        },
        ms,
        ...args,
      );
      pending.set(t, 'timeout');
      return t;
    };
    g.setInterval = (fn: (...a: unknown[]) => void, ms?: number, ...args: unknown[]) => {
      const t = origSetInterval(fn, ms, ...args);
      pending.set(t, 'interval');
      return t;
    };
    g.clearTimeout = (t: NodeJS.Timeout | undefined) => {
      if (t) pending.delete(t);
      origClearTimeout(t);
    };
    g.clearInterval = (t: NodeJS.Timeout | undefined) => {
      if (t) pending.delete(t);
      origClearInterval(t);
    };
    this.restore = () => Object.assign(g, saved);
  }

  stop(): void {
    this.restore?.();
    this.restore = undefined;
  }

  /** Timers that would keep running: every interval, and timeouts that hold the process open. */
  leftovers(): Array<[NodeJS.Timeout, 'timeout' | 'interval']> {
    return [...this.pending].filter(([t, kind]) => kind === 'interval' || t.hasRef());
  }
}

async function expectReportError(factory: AdapterFactory, opts: ConformanceOptions, s: ReportScenario, permanent: boolean): Promise<void> {
  const owned = freshEnv(factory, opts);
  const handler = await factory.create(configOf(factory, s.params ?? opts.validParams), owned.env);
  try {
    assert.equal(typeof handler.report, 'function', 'report adapters implement report()');
    const ctx = s.ctx ?? { jobId: 'conformance-job', attempt: 1 };
    let thrown: unknown;
    try {
      await handler.report!(s.instances, ctx);
    } catch (err) {
      thrown = err;
    }
    assert.ok(thrown !== undefined, 'report() must throw for this scenario');
    assert.equal(isPermanent(thrown), permanent, `expected a ${permanent ? 'permanent' : 'retryable'} error, got: ${String(thrown)}`);
  } finally {
    await handler.close?.();
    owned.dispose();
  }
}

/**
 * Declares the conformance suite for `factory` (a mocha `describe` named after the adapter).
 * Each test creates its handlers from a fresh env (handler `conformance/<name>-<n>`) with params
 * validated by {@link validateParams}, then closes them and disposes the env. The timer test wraps
 * the global `setTimeout`/`setInterval` for its duration and fails when, `settleMs` after close and
 * dispose, an interval or a ref'd timeout started meanwhile is still pending (timers that exit by
 * themselves, unref'd, are allowed: libraries such as `fetch` keep some).
 */
export function runAdapterConformance(factory: AdapterFactory, opts: ConformanceOptions): void {
  describe(`adapter conformance: ${factory.name}`, () => {
    it('has a name and at least one known template or capability', () => {
      assert.match(factory.name, /^[a-z][a-z0-9-]*$/, 'names are lowercase, as used in YAML');
      const caps = factory.capabilities ?? [];
      assert.ok(factory.templates.length > 0 || caps.length > 0, 'at least one template or capability');
      for (const c of caps) assert.ok((ADAPTER_CAPABILITIES as readonly string[]).includes(c), `capability ${c} exists`);
      for (const t of factory.templates) assert.ok(TEMPLATES[t], `template ${t} exists`);
    });

    it('schema accepts validParams and returns a frozen config', () => {
      const r = validateParams(factory, opts.validParams, 'params');
      assert.deepEqual(r.errors, []);
      assert.ok(Object.isFrozen(r.config), 'config is frozen');
    });

    (opts.invalidParams ?? []).forEach((bad, i) => {
      it(`schema rejects invalidParams[${i}]`, () => {
        const r = validateParams(factory, bad, 'params');
        assert.equal(r.config, undefined);
        assert.ok(r.errors.length > 0, `expected errors for ${JSON.stringify(bad)}`);
        for (const e of r.errors) assert.ok(e.field.startsWith('params') && e.reason.length > 0);
      });
    });

    it('implements the methods its templates need', async () => {
      const owned = freshEnv(factory, opts);
      const handler: Handler = await factory.create(configOf(factory, opts.validParams), owned.env);
      try {
        for (const t of factory.templates) {
          const variety = TEMPLATES[t].variety;
          assert.equal(typeof handler[variety], 'function', `template ${t} needs ${variety}()`);
        }
        if (factory.capabilities?.includes('decisions')) assert.equal(typeof handler.decision, 'function', 'capability decisions needs decision()');
      } finally {
        await handler.close?.();
        owned.dispose();
      }
    });

    it('close() right after create (no use) is safe', async () => {
      const owned = freshEnv(factory, opts);
      const handler = await factory.create(configOf(factory, opts.validParams), owned.env);
      await handler.close?.();
      owned.dispose();
    });

    it('close() twice after use is safe', async () => {
      const owned = freshEnv(factory, opts);
      const handler = await factory.create(configOf(factory, opts.validParams), owned.env);
      try {
        await opts.use?.(handler);
      } finally {
        await handler.close?.();
        await handler.close?.();
        owned.dispose();
      }
    });

    it('leaves no timers running after close and dispose', async () => {
      const tracker = new TimerTracker();
      tracker.start();
      try {
        const owned = freshEnv(factory, opts);
        const handler = await factory.create(configOf(factory, opts.validParams), owned.env);
        await handler.close?.();
        owned.dispose();
        await waitFor(() => tracker.leftovers().length === 0, { timeoutMs: opts.settleMs ?? 2000 }).catch(() => undefined);
        assert.deepEqual(
          tracker.leftovers().map(([, kind]) => kind),
          [],
          'timers still running after close',
        );
      } finally {
        tracker.stop();
        for (const [t] of tracker.leftovers()) clearTimeout(t); // do not let a leak disturb later tests
      }
    });

    if (opts.badReport) {
      const s = opts.badReport;
      it('bad report data fails with a permanent error', () => expectReportError(factory, opts, s, true));
    }
    if (opts.retryableReport) {
      const s = opts.retryableReport;
      it('a transient report failure is retryable', () => expectReportError(factory, opts, s, false));
    }
  });
}
