/**
 * Errors as gRPC statuses, in one place: a MixerError's HTTP class decides the gRPC code, and the
 * message names Mixer's stable code (`MIXER_ERR_ATTRIBUTE_UNKNOWN: attributes.foo: ...`).
 */
import { Metadata, status as GrpcStatus } from '@grpc/grpc-js';
import type { ServiceError } from '@grpc/grpc-js';
import { asMixerError, httpStatusOf } from '../../base/errors';
import type { MixerError } from '../../base/errors';

/** The gRPC code of a Mixer error. */
export function grpcCodeOf(e: MixerError): GrpcStatus {
  switch (e.code) {
    case 'MIXER_ERR_BODY_TOO_LARGE':
    case 'MIXER_ERR_BATCH_TOO_LARGE':
    case 'MIXER_ERR_TOO_MANY_ATTRIBUTES':
      return GrpcStatus.RESOURCE_EXHAUSTED;
    case 'MIXER_ERR_QUEUE_UNAVAILABLE':
    case 'MIXER_ERR_NOT_READY':
    case 'MIXER_ERR_CONFIG_STORE_UNAVAILABLE':
      return GrpcStatus.UNAVAILABLE;
    case 'MIXER_ERR_INTERNAL':
      return GrpcStatus.INTERNAL;
    default:
      break;
  }
  const http = httpStatusOf(e.code);
  if (http === 401) return GrpcStatus.UNAUTHENTICATED;
  if (http === 403) return GrpcStatus.PERMISSION_DENIED;
  if (http === 404) return GrpcStatus.NOT_FOUND;
  if (http >= 500) return GrpcStatus.UNAVAILABLE;
  return GrpcStatus.INVALID_ARGUMENT;
}

/** A grpc-js error for anything thrown: code, `MIXER_ERR_...: message`, and the code in `mixer-error-code` metadata. */
export function toServiceError(err: unknown): Partial<ServiceError> & { code: GrpcStatus } {
  const e = asMixerError(err);
  const metadata = new Metadata();
  metadata.set('mixer-error-code', e.code);
  const first = e.details[0];
  if (first) metadata.set('mixer-error-field', first.field.slice(0, 200));
  return { code: grpcCodeOf(e), details: `${e.code}: ${e.message}`, metadata };
}

/** The name of a gRPC code (`OK`, `INVALID_ARGUMENT`, ...), for metric labels. */
export function codeName(code: number): string {
  return (GrpcStatus as unknown as Record<number, string>)[code] ?? String(code);
}
