/**
 * A sidecar's inbound port with Mixer's CA on: one port speaks both mutual TLS and plaintext
 * (told apart by the first byte, a TLS handshake record being 0x16), so a PeerAuthentication can
 * move a workload between STRICT, PERMISSIVE and DISABLE without a restart or a port change; the
 * mode is enforced per request (see `inbound.ts`). TLS connections must present a certificate
 * chained to a trusted mesh root (else the handshake fails); a new certificate or new roots apply
 * to new connections, and connections in flight keep theirs.
 */
import type * as http from 'node:http';
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { Logger } from 'pino';
import type { CertMaterial } from '../mixer-client/workload-cert';

/** Counters of the inbound listener. */
export interface InboundTlsStats {
  /** TLS handshakes completed. */
  handshakes: number;
  /** TLS handshakes refused (no certificate, another CA's, expired, ...). */
  handshakeFailures: number;
  /** Plaintext connections accepted (the mode then decides per request). */
  plaintextConnections: number;
}

/** The listener: a `net.Server` to listen on, dispatching to `httpServer`. */
export interface DualListener {
  readonly server: net.Server;
  readonly stats: InboundTlsStats;
  /** Uses new material for new connections. */
  setTls(m: CertMaterial): void;
  /** Stops accepting, lets requests in flight finish (at most `graceMs`), then closes what is left. */
  close(graceMs?: number): Promise<void>;
}

function serverOptions(m: CertMaterial): tls.TlsOptions {
  return { key: m.key, cert: m.cert, ca: m.ca, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' };
}

/** Wraps `httpServer` in a port that takes mutual TLS and plaintext. */
export function dualListener(httpServer: http.Server, material: CertMaterial, logger: Logger): DualListener {
  const stats: InboundTlsStats = { handshakes: 0, handshakeFailures: 0, plaintextConnections: 0 };
  const tlsServer = tls.createServer(serverOptions(material), (secure) => {
    stats.handshakes++;
    httpServer.emit('connection', secure);
  });
  let lastFailure = '';
  tlsServer.on('tlsClientError', (err) => {
    stats.handshakeFailures++;
    if (err.message !== lastFailure) logger.info({ err: err.message }, 'inbound TLS handshake refused');
    lastFailure = err.message;
  });
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.once('error', () => socket.destroy());
    socket.once('data', (first: Buffer) => {
      socket.pause();
      socket.unshift(first);
      if (first[0] === 0x16) tlsServer.emit('connection', socket);
      else {
        stats.plaintextConnections++;
        httpServer.emit('connection', socket);
      }
      process.nextTick(() => socket.resume());
    });
  });
  // The HTTP server never listens itself: this turns on its tracking of connections (idle ones are closed on close).
  server.once('listening', () => httpServer.emit('listening'));
  const close = async (graceMs = 5000): Promise<void> => {
    if (!server.listening) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    httpServer.close(() => undefined);
    httpServer.closeIdleConnections();
    const t = setTimeout(() => {
      httpServer.closeAllConnections();
      for (const s of sockets) s.destroy();
    }, graceMs);
    await closed;
    clearTimeout(t);
  };
  return { server, stats, setTls: (m) => tlsServer.setSecureContext(serverOptions(m)), close };
}
