/**
 * Protobuf that does not decode is answered INVALID_ARGUMENT with the decoder's reason (grpc-js
 * itself would say INTERNAL): the deserializers are wrapped to hand over a {@link Malformed} marker
 * instead of throwing, and each handler turns it into the error.
 */
import type { ServiceDefinition } from '@grpc/grpc-js';
import { MixerError } from '../../base/errors';

/** A request whose bytes did not decode. */
export class Malformed {
  constructor(readonly reason: string) {}
}

/** Throws MIXER_ERR_BAD_REQUEST when `msg` is a {@link Malformed} marker. */
export function throwIfMalformed(msg: unknown): void {
  if (msg instanceof Malformed) {
    throw new MixerError('MIXER_ERR_BAD_REQUEST', `malformed protobuf: ${msg.reason}`, { details: [{ field: 'message', reason: msg.reason }] });
  }
}

/** Bytes on the wire of each decoded request message (see {@link wireSize}). */
const sizes = new WeakMap<object, number>();

/** The size in bytes of request message `msg` as received, when it came through a {@link tolerantDefinition}. */
export function wireSize(msg: unknown): number | undefined {
  return typeof msg === 'object' && msg !== null ? sizes.get(msg) : undefined;
}

/**
 * A copy of `def` whose request deserializers never throw; those of the methods named in `sized` also
 * note each message's size ({@link wireSize}: the report methods, whose batches the queue groups by it).
 */
export function tolerantDefinition(def: ServiceDefinition, sized: readonly string[] = []): ServiceDefinition {
  const out: Record<string, unknown> = {};
  for (const [name, m] of Object.entries(def)) {
    const decode = m.requestDeserialize;
    const size = sized.includes(name);
    out[name] = {
      ...m,
      requestDeserialize: (buf: Buffer): unknown => {
        try {
          const msg: unknown = decode(buf);
          if (size && typeof msg === 'object' && msg !== null) sizes.set(msg, buf.length);
          return msg;
        } catch (err) {
          return new Malformed(err instanceof Error ? err.message : String(err));
        }
      },
    };
  }
  return out as ServiceDefinition;
}
