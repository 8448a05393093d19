# Mixer's container image: one image for `mixer serve` (API, port 9091; gRPC for Envoy and Istio proxies, 9092) and `mixer worker` (report
# workers, /metrics /healthz /readyz on 9093). See docs/deploy.md.
#
#   docker build -t mixer:0.1.0 .
#   docker run --rm -p 9091:9091 mixer:0.1.0                     # serve, embedded queue
#   docker run --rm -e REDIS_URL=redis://redis:6379 mixer:0.1.0 worker

# ---- build: compile TypeScript to dist/ ---------------------------------------------------------
FROM node:20-bookworm-slim AS build
WORKDIR /app
# Dependencies first, so a source change does not reinstall them. --ignore-scripts: the package's
# `prepare` script runs the build, and the sources are not copied yet.
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY adapters ./adapters
RUN npm run build

# ---- runtime: production dependencies, compiled code, default config ----------------------------
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production \
    MIXER_CONFIG_DIR=/etc/mixer/rules
WORKDIR /app
# --ignore-scripts: `prepare` would run `npm run build`, which needs TypeScript (a dev dependency);
# the compiled code comes from the build stage instead.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist/src ./dist/src
COPY --from=build /app/dist/adapters ./dist/adapters
COPY bin ./bin
# The .proto files and Istio's global dictionary, loaded at run time by the gRPC listener (port 9092).
COPY proto ./proto
# The graph page's static files are read from the source tree at run time (not compiled).
COPY adapters/graph/page ./adapters/graph/page
# The default config. Mount your own over /etc/mixer/rules (compose: ./rules read-only; Kubernetes:
# the mixer-rules ConfigMap). Mixer watches the directory and reloads without a restart.
COPY rules /etc/mixer/rules

# The base image's `node` user, by number so Kubernetes' runAsNonRoot can verify it. Everything
# above is owned by root: the process cannot change its own code or default config.
USER 1000:1000
EXPOSE 9091 9092 9093

# Liveness for plain Docker: GET /healthz on the port of the command PID 1 runs: `worker` listens on
# MIXER_METRICS_PORT (--metrics-port, default 9093), `serve` on MIXER_PORT (--port/-p, default 9091).
# node rather than curl: the slim image has no curl. Kubernetes ignores this and uses its probes.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "const a=require('fs').readFileSync('/proc/1/cmdline','utf8').split('\\0'),e=process.env;const i=a.findIndex((x)=>x.endsWith('mixer.js'));const w=a[i+1]==='worker',f=w?'--metrics-port':'--port';let p=w?e.MIXER_METRICS_PORT||9093:e.MIXER_PORT||9091;a.forEach((x,j)=>{if(x===f||(!w&&x==='-p'))p=a[j+1];else if(x.startsWith(f+'='))p=x.slice(f.length+1);});require('http').get({host:'127.0.0.1',port:Number(p),path:'/healthz',timeout:4000},(r)=>process.exit(r.statusCode===200?0:1)).on('timeout',()=>process.exit(1)).on('error',()=>process.exit(1));"]

ENTRYPOINT ["node", "bin/mixer.js"]
CMD ["serve"]
