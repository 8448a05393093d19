/**
 * Mixer's gRPC listener: Envoy ext_authz v3, Envoy ALS v3 and Istio mixer v1 on one port, served
 * from the same config, policy check and report queue as the HTTP API. Credentials come from
 * {@link grpcCredentials} alone: plaintext, or with the mesh CA on the same mutual TLS as the HTTP
 * port (see tls.ts), every method then checking its caller's certificate.
 */
import * as grpc from '@grpc/grpc-js';
import type { ServiceDefinition, UntypedServiceImplementation } from '@grpc/grpc-js';
import { alsHandler, AlsStreams } from './als-service';
import { authzCheckHandler } from './authz-service';
import type { DoorDeps } from './doors';
import { tolerantDefinition } from './malformed';
import { v1CheckHandler, v1ReportHandler } from './mixer-v1-service';
import { serviceAt, SERVICES } from './protos';
import { codeName, toServiceError } from './status';
import { authenticate, mtlsCredentials } from './tls';
import type { GrpcClientAuth, TlsMaterialSource } from './tls';

/** The port's TLS: Mixer's listener material (renewals followed) and how callers are authenticated. */
export interface GrpcTls {
  source: TlsMaterialSource;
  auth: GrpcClientAuth;
}

/** How the gRPC port is secured: plaintext HTTP/2 without `tls`; else mutual TLS following the listener's material. */
export function grpcCredentials(tls?: GrpcTls): grpc.ServerCredentials {
  return tls ? mtlsCredentials(tls.source) : grpc.ServerCredentials.createInsecure();
}

export interface GrpcServerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Largest message accepted (bytes); a bigger one is answered RESOURCE_EXHAUSTED. */
  maxMessageBytes: number;
  /** Mutual TLS (the mesh CA on); unset: plaintext. */
  tls?: GrpcTls;
}

/** A running gRPC listener. */
export interface RunningGrpc {
  readonly port: number;
  /** Stops accepting; flushes and answers open ALS streams; waits for calls in flight (forced after `graceMs`). Safe twice. */
  close(graceMs?: number): Promise<void>;
}

type Handler = (call: unknown, callback: grpc.sendUnaryData<unknown>) => void;

/** Wraps a handler so each answer is counted under `mixer_grpc_requests_total` and timed. */
function measured(deps: DoorDeps, service: string, method: string, h: Handler): Handler {
  return (call, callback) => {
    const t0 = performance.now();
    h(call, (err, value) => {
      const code = err ? (err.code ?? grpc.status.UNKNOWN) : grpc.status.OK;
      deps.metrics.grpcRequests.inc({ service, method, code: codeName(code) });
      deps.metrics.grpcDuration.labels(service, method).observe((performance.now() - t0) / 1000);
      callback(err, value);
    });
  };
}

/** Refuses a call whose caller `auth` does not accept (UNAUTHENTICATED), before the method reads anything. */
function guarded(auth: GrpcClientAuth, service: string, method: string, h: Handler): Handler {
  const what = `${service}/${method}`;
  return (call, callback) => {
    try {
      authenticate(auth, call as object, what);
    } catch (e) {
      callback(toServiceError(e));
      return;
    }
    h(call, callback);
  };
}

/** `reports`: the methods that take reports, whose messages' sizes are noted (see `wireSize`). */
function definition(name: string, reports: readonly string[] = []): ServiceDefinition {
  return tolerantDefinition(serviceAt(name).service, reports);
}

/** Starts the listener. Rejects when the port cannot be bound. */
export async function startGrpcServer(deps: DoorDeps, opts: GrpcServerOptions): Promise<RunningGrpc> {
  const server = new grpc.Server({
    'grpc.max_receive_message_length': opts.maxMessageBytes,
    'grpc.max_send_message_length': 4 * 1024 * 1024,
    'grpc.keepalive_permit_without_calls': 1,
  });
  const streams = new AlsStreams();
  const impl = (service: string, methods: Record<string, Handler>): UntypedServiceImplementation => {
    const out: UntypedServiceImplementation = {};
    for (const [m, h] of Object.entries(methods)) out[m] = measured(deps, service, m, opts.tls ? guarded(opts.tls.auth, service, m, h) : h) as never;
    return out;
  };
  server.addService(definition(SERVICES.authz), impl(SERVICES.authz, { Check: authzCheckHandler(deps) as Handler }));
  server.addService(definition(SERVICES.als, ['StreamAccessLogs']), impl(SERVICES.als, { StreamAccessLogs: alsHandler(deps, streams) as Handler }));
  server.addService(
    definition(SERVICES.mixer, ['Report']),
    impl(SERVICES.mixer, { Check: v1CheckHandler(deps) as Handler, Report: v1ReportHandler(deps) as Handler }),
  );
  const address = opts.host.includes(':') ? `[${opts.host}]:${opts.port}` : `${opts.host}:${opts.port}`;
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(address, grpcCredentials(opts.tls), (err, p) => (err ? reject(err) : resolve(p))),
  );
  let closing: Promise<void> | undefined;
  return {
    port,
    close: (graceMs = 10_000) =>
      (closing ??= (async () => {
        const shutdown = new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
        await streams.drain();
        const force = setTimeout(() => server.forceShutdown(), graceMs);
        await shutdown;
        clearTimeout(force);
      })()),
  };
}
