import { randomBytes } from 'node:crypto';

export interface GeneratedReport {
  bag: Record<string, unknown>;
  version: 'v1' | 'v2';
  code: number;
  sampled: boolean;
  traceId: string;
  spanId: string;
}

/**
 * Inbound reports for frontend → backend (v1 and v2, some 5xx), as the backend's sidecar sends them,
 * with B3 headers (a quarter of the traces unsampled).
 */
export function frontendToBackend(n: number, seed = 1): GeneratedReport[] {
  const out: GeneratedReport[] = [];
  let x = seed;
  const rand = (): number => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x / 2147483648;
  };
  const start = Date.now() - 1000;
  for (let i = 0; i < n; i++) {
    const version = rand() < 0.7 ? 'v1' : 'v2';
    const code = rand() < 0.1 ? 503 : rand() < 0.05 ? 404 : 200;
    const sampled = i % 4 !== 3;
    const traceId = randomBytes(16).toString('hex');
    const spanId = randomBytes(8).toString('hex');
    const t0 = start + i;
    const bag: Record<string, unknown> = {
      'source.labels': { app: 'frontend', version: 'v1' },
      'source.workload.name': 'frontend-v1',
      'source.workload.namespace': 'default',
      'source.principal': 'spiffe://cluster.local/ns/default/sa/frontend',
      'destination.labels': { app: 'backend', version },
      'destination.workload.name': `backend-${version}`,
      'destination.workload.namespace': 'default',
      'destination.service.host': 'backend.default.svc.cluster.local',
      'destination.service.name': 'backend',
      'destination.service.namespace': 'default',
      'request.headers': { 'x-b3-traceid': traceId, 'x-b3-spanid': spanId, 'x-b3-sampled': sampled ? '1' : '0', 'user-agent': 'curl/8' },
      'request.method': 'GET',
      'request.path': '/ping',
      'request.host': 'backend',
      'request.time': new Date(t0).toISOString(),
      'response.time': new Date(t0 + 12).toISOString(),
      'response.code': code,
      'response.duration': '12ms',
      'request.size': 100,
      'response.size': 250,
      'context.reporter.kind': 'inbound',
      'context.protocol': 'http',
      'connection.mtls': false,
    };
    out.push({ bag, version, code, sampled, traceId, spanId });
  }
  return out;
}

/** Splits into batches of `size`. */
export function batches<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
