/**
 * deploy/envoy/envoy.yaml, checked without an Envoy binary: v3 typed configs only, the ext_authz filter
 * and the gRPC access logger pointing at a cluster that speaks HTTP/2 to Mixer's gRPC port, the router
 * last, every route's cluster defined, and a node Mixer can read.
 */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import { parseIstioCluster } from '../../../src/api/grpc/als-attributes';
import { workloadOfNode } from '../../../src/api/grpc/node-identity';
import { FAIL_OPEN_EXTENSION } from '../../../src/api/grpc/authz-verdict';

const ROOT = path.resolve(__dirname, '..', '..', '..', '..');
const config = parse(readFileSync(path.join(ROOT, 'deploy', 'envoy', 'envoy.yaml'), 'utf8'));

type Obj = Record<string, any>;

/** Every `@type` in the document. */
function typeUrls(v: unknown, out: string[] = []): string[] {
  if (Array.isArray(v)) v.forEach((x) => typeUrls(x, out));
  else if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      if (k === '@type') out.push(String(x));
      else typeUrls(x, out);
    }
  }
  return out;
}

describe('deploy/envoy/envoy.yaml (plain Envoy in front of an app, Mixer in the data path)', () => {
  const clusters: Obj[] = config.static_resources.clusters;
  const clusterNamed = (name: string) => clusters.find((c) => c.name === name);
  const hcm: Obj = config.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;

  it('uses only Envoy v3 API type URLs', () => {
    const urls = typeUrls(config);
    assert.ok(urls.length >= 6);
    for (const u of urls) assert.match(u, /^type\.googleapis\.com\/envoy\.[a-z_.]+\.v3\.[A-Z][A-Za-z]+$/, u);
  });

  it('checks every request with ext_authz over gRPC v3 against an HTTP/2 cluster on Mixer port 9092, router last', () => {
    const filters: Obj[] = hcm.http_filters;
    assert.equal(filters.at(-1)!.name, 'envoy.filters.http.router');
    const authz = filters.find((f) => f.name === 'envoy.filters.http.ext_authz')!.typed_config;
    assert.equal(authz['@type'], 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz');
    assert.equal(authz.transport_api_version, 'V3');
    const mixer = clusterNamed(authz.grpc_service.envoy_grpc.cluster_name)!;
    assert.ok(mixer, 'the ext_authz cluster exists');
    const opts = mixer.typed_extension_protocol_options['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'];
    assert.ok(opts.explicit_http_config.http2_protocol_options, 'gRPC needs HTTP/2');
    assert.equal(mixer.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value, 9092);
    assert.equal(mixer.load_assignment.cluster_name, mixer.name);
  });

  it('reports every request to the access-log service v3 on the same cluster, with custom tags Mixer reads as attributes', () => {
    const als = hcm.access_log.find((a: Obj) => a.name === 'envoy.access_loggers.http_grpc').typed_config;
    assert.equal(als['@type'], 'type.googleapis.com/envoy.extensions.access_loggers.grpc.v3.HttpGrpcAccessLogConfig');
    assert.equal(als.common_config.transport_api_version, 'V3');
    assert.ok(clusterNamed(als.common_config.grpc_service.envoy_grpc.cluster_name));
    assert.ok(als.common_config.log_name);
    const vocabulary = readFileSync(path.join(ROOT, 'rules', 'attributes.yaml'), 'utf8');
    for (const t of als.common_config.custom_tags) {
      const m = /^((?:source|destination)\.labels)\.[\w.-]+$/.exec(t.tag);
      assert.ok(m || vocabulary.includes(`    ${t.tag}:`), `custom tag ${t.tag} names an attribute`);
    }
    assert.equal(hcm.generate_request_id, true, 'request ids let the graph count a request once');
  });

  it('routes to Istio-style inbound clusters that exist, with context extensions Mixer understands', () => {
    for (const vh of hcm.route_config.virtual_hosts) {
      for (const r of vh.routes) {
        const c = clusterNamed(r.route.cluster);
        assert.ok(c, `route cluster ${r.route.cluster} is defined`);
        assert.equal(parseIstioCluster(c.name)?.direction, 'inbound');
        const ext = r.typed_per_filter_config['envoy.filters.http.ext_authz'];
        assert.equal(ext['@type'], 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute');
        assert.ok(['true', 'false'].includes(ext.check_settings.context_extensions[FAIL_OPEN_EXTENSION]));
      }
    }
  });

  it('names a node Mixer reads as a workload', () => {
    const md: Obj = config.node.metadata;
    const toStruct = (o: Obj): Obj => ({
      fields: Object.fromEntries(Object.entries(o).map(([k, v]) => [k, typeof v === 'string' ? { stringValue: v } : { structValue: toStruct(v) }])),
    });
    const w = workloadOfNode({ id: config.node.id, cluster: config.node.cluster, metadata: toStruct(md) });
    assert.equal(w.workloadName, 'backend-v1');
    assert.equal(w.namespace, 'default');
    assert.deepEqual(w.labels, { app: 'backend', version: 'v1' });
  });
});
