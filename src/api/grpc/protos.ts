/**
 * The protocol files Mixer serves (`proto/` of the package), loaded once with @grpc/proto-loader.
 * See proto/README.md for where every field number comes from.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { GrpcObject, ServiceClientConstructor } from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/** `proto/` of the package (dist/src/api/grpc → the package root). */
export const PROTO_DIR = path.resolve(__dirname, '..', '..', '..', '..', 'proto');

/** The service files, relative to {@link PROTO_DIR}. */
export const SERVICE_FILES = ['envoy/service/auth/v3/external_auth.proto', 'envoy/service/accesslog/v3/als.proto', 'mixer/v1/mixer.proto'] as const;

/**
 * Loader options: field names as in the .proto (snake_case), int64 as decimal strings, enums by name,
 * absent fields absent (no defaults), and the chosen branch of each oneof named.
 * Note: google.protobuf.Struct comes out with protobufjs's camelCase names (`stringValue`, `structValue`).
 */
export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: false,
  oneofs: true,
  includeDirs: [PROTO_DIR],
};

let loaded: GrpcObject | undefined;

/** Every package of the service files, loaded on first use. */
export function loadProtos(): GrpcObject {
  if (loaded === undefined) {
    const def = protoLoader.loadSync([...SERVICE_FILES], LOADER_OPTIONS);
    loaded = grpc.loadPackageDefinition(def);
  }
  return loaded;
}

/** The service definition (and client constructor) at a dotted name, e.g. `envoy.service.auth.v3.Authorization`. */
export function serviceAt(name: string): ServiceClientConstructor {
  let node: unknown = loadProtos();
  for (const part of name.split('.')) node = (node as Record<string, unknown> | undefined)?.[part];
  if (typeof node !== 'function' || !('service' in node)) throw new Error(`no gRPC service ${name} in ${PROTO_DIR}`);
  return node as ServiceClientConstructor;
}

/** The gRPC names of the three services. */
export const SERVICES = {
  authz: 'envoy.service.auth.v3.Authorization',
  als: 'envoy.service.accesslog.v3.AccessLogService',
  mixer: 'istio.mixer.v1.Mixer',
} as const;

let dictionary: readonly string[] | undefined;

/**
 * Istio 1.4's global word list (222 words, in order): index i of a CompressedAttributes word index.
 * Kept exactly as Istio 1.4 ships it, quote characters of four entries included.
 */
export function globalDictionary(): readonly string[] {
  if (dictionary === undefined) {
    const words = JSON.parse(readFileSync(path.join(PROTO_DIR, 'istio-global-dictionary-1.4.json'), 'utf8')) as unknown;
    if (!Array.isArray(words) || !words.every((w) => typeof w === 'string')) throw new Error('proto/istio-global-dictionary-1.4.json: not a list of words');
    dictionary = Object.freeze(words);
  }
  return dictionary;
}
