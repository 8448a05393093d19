/**
 * The baseline of the gRPC bench: a bare @grpc/grpc-js server serving Envoy's
 * `envoy.service.auth.v3.Authorization/Check` from the same proto files, answering a constant OK.
 * Nothing Mixer's ext_authz door does is cheaper than this.
 *
 * Run: `node dist/bench/bare-grpc-server.js --host 127.0.0.1 --port P`; prints `listening <port>` once up.
 */
import * as grpc from '@grpc/grpc-js';
import { serviceAt, SERVICES } from '../src/api/grpc/protos';

const ANSWER = { status: { code: 0, message: '' }, ok_response: {} };

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : fallback;
}

if (require.main === module) {
  const server = new grpc.Server();
  server.addService(serviceAt(SERVICES.authz).service, {
    Check: (_call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => cb(null, ANSWER),
  });
  server.bindAsync(`${arg('host', '127.0.0.1')}:${arg('port', '0')}`, grpc.ServerCredentials.createInsecure(), (err, port) => {
    if (err) throw err;
    process.stdout.write(`listening ${port}\n`);
  });
  const stop = (): void => server.tryShutdown(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
