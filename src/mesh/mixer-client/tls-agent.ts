/**
 * Keep-alive agents for mutual TLS calls (sidecar to sidecar, proxy to Mixer), built around one
 * secure context per certificate: without it, Node parses the key, the chain and the roots again
 * for every new connection (`tls.connect` makes a context from PEM options each time), and the
 * agent's pool key, computed for every request, spells out all three PEMs.
 */
import * as https from 'node:https';
import * as tls from 'node:tls';

/** An https agent presenting `m` (a workload's `CertMaterial`) and trusting its roots; a new certificate means a new agent. */
export function mtlsAgent(m: { key: string; cert: string; ca: string }, o: { maxSockets: number; timeoutMs: number }): https.Agent {
  const secureContext = tls.createSecureContext({ key: m.key, cert: m.cert, ca: m.ca, minVersion: 'TLSv1.2' });
  return new https.Agent({ keepAlive: true, maxSockets: o.maxSockets, timeout: o.timeoutMs, secureContext });
}
