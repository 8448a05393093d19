/**
 * gRPC clients built from Mixer's own proto files (the same loader options Mixer uses), for tests
 * and benches: Envoy ext_authz v3, Envoy ALS v3, Istio mixer v1.
 */
import * as grpc from '@grpc/grpc-js';
import { serviceAt, SERVICES } from '../../src/api/grpc/protos';

/** Client TLS for Mixer's gRPC port under mutual TLS: the trusted roots, and a workload key and certificate chain (PEM) or none. */
export interface GrpcClientTls {
  roots: string;
  key?: string;
  cert?: string;
}

/** Channel credentials: plaintext without `tls`, else TLS with the client certificate when given. */
export function channelCredentials(tls?: GrpcClientTls): grpc.ChannelCredentials {
  if (!tls) return grpc.credentials.createInsecure();
  return grpc.credentials.createSsl(Buffer.from(tls.roots), tls.key ? Buffer.from(tls.key) : null, tls.cert ? Buffer.from(tls.cert) : null);
}

/** The three clients against `127.0.0.1:<port>` (plaintext, or TLS with `tls`). `close()` closes them. */
export function grpcClients(port: number, options: grpc.ClientOptions = {}, tls?: GrpcClientTls) {
  const address = `127.0.0.1:${port}`;
  const creds = channelCredentials(tls);
  // Under TLS the name checked is one of Mixer's serving certificate (an IP is not a valid TLS server name).
  const opts = { 'grpc.max_send_message_length': 64 * 1024 * 1024, ...(tls ? { 'grpc.ssl_target_name_override': 'localhost' } : {}), ...options };
  const authz = new (serviceAt(SERVICES.authz))(address, creds, opts);
  const als = new (serviceAt(SERVICES.als))(address, creds, opts);
  const mixer = new (serviceAt(SERVICES.mixer))(address, creds, opts);
  const unary =
    (client: grpc.Client, method: string) =>
    (req: unknown): Promise<any> =>
      new Promise((resolve, reject) => {
        (client as unknown as Record<string, (r: unknown, cb: (e: grpc.ServiceError | null, v: unknown) => void) => void>)[method](req, (e, v) =>
          e ? reject(e) : resolve(v),
        );
      });
  return {
    authzCheck: unary(authz, 'Check'),
    mixerCheck: unary(mixer, 'Check'),
    mixerReport: unary(mixer, 'Report'),
    /** Sends `messages` on one ALS stream, then ends it; resolves with the answer or rejects with the status. */
    streamLogs(messages: unknown[]): Promise<unknown> {
      return new Promise((resolve, reject) => {
        const call = (
          als as unknown as { StreamAccessLogs: (cb: (e: grpc.ServiceError | null, v: unknown) => void) => grpc.ClientWritableStream<unknown> }
        ).StreamAccessLogs((e, v) => (e ? reject(e) : resolve(v)));
        call.on('error', () => undefined);
        for (const m of messages) call.write(m);
        call.end();
      });
    },
    /** The raw ALS client (for streams a test drives itself). */
    als,
    close(): void {
      authz.close();
      als.close();
      mixer.close();
    },
  };
}

/** Raw bytes to a method, bypassing the serializer (malformed protobuf). */
export function rawUnary(port: number, path: string, bytes: Buffer): Promise<unknown> {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  return new Promise<unknown>((resolve, reject) => {
    client.makeUnaryRequest(
      path,
      (b: Buffer) => b,
      (b: Buffer) => b,
      bytes,
      (e, v) => (e ? reject(e) : resolve(v)),
    );
  }).finally(() => client.close());
}
