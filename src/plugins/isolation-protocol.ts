/**
 * The messages between an isolated handler's proxy (Mixer's thread) and its worker thread.
 * Everything here is plain data: it crosses the thread boundary by structured clone.
 */
import { PermanentError, isPermanent } from '../sdk/adapter';
import type { AdapterSource } from './adapter-source';
import type { RedisSpec } from '../base/redis-connect';

/** Handler calls the proxy forwards (`metrics` reads the worker's registry as JSON). */
export type IsolatedOp = 'check' | 'quota' | 'report' | 'metrics' | 'close';

/** `workerData` of an isolated handler's worker. */
export interface IsolatedWorkerData {
  source: AdapterSource;
  /** Validated params (re-frozen in the worker). */
  config: unknown;
  handlerName: string;
  keyPrefix?: string;
  role: 'serve' | 'worker';
  /** pino level of the forwarded log. */
  logLevel: string;
  /** Mixer's Redis (any mode), from which the worker opens a connection of its own. */
  redis?: RedisSpec;
}

/** Proxy → worker. */
export type ToWorker = { t: 'call'; id: number; op: IsolatedOp; args: unknown[] } | { t: 'ping'; id: number };

/** An error as it crosses the boundary. */
export interface WireError {
  message: string;
  name: string;
  permanent: boolean;
}

/** Worker → proxy. */
export type FromWorker =
  | { t: 'ready'; methods: Array<'check' | 'quota' | 'report'>; routes: boolean }
  | { t: 'fatal'; error: WireError }
  | { t: 'reply'; id: number; ok: true; value: unknown }
  | { t: 'reply'; id: number; ok: false; error: WireError }
  | { t: 'pong'; id: number }
  | { t: 'log'; line: string };

/** Turns anything thrown into a {@link WireError} (keeping whether it is permanent). */
export function toWire(err: unknown): WireError {
  if (err instanceof Error) return { message: err.message, name: err.name, permanent: isPermanent(err) };
  return { message: String(err), name: 'Error', permanent: isPermanent(err) };
}

/** Rebuilds an error on the proxy's side: a {@link PermanentError} when it was permanent. */
export function fromWire(e: WireError, prefix: string): Error {
  const message = `${prefix}${e.message}`;
  if (e.permanent) return new PermanentError(message);
  const err = new Error(message);
  if (e.name && e.name !== 'Error') err.name = e.name;
  return err;
}
