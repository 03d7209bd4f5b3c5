# nexus: an MCP gateway and LLM router. Build: docker build -t nexus .
# The base is any Debian-based image with Node.js 20.19+ (and npm, for npx stdio servers).
ARG NODE_IMAGE=node:22-bookworm-slim

# Dependencies and the TypeScript build, with dev dependencies.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# An extra CA for the npm registry (a TLS-intercepting proxy): --secret id=npm_ca,src=ca.pem
RUN --mount=type=secret,id=npm_ca,required=false \
    if [ -s /run/secrets/npm_ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/npm_ca; fi; \
    npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

# The runtime: production dependencies and the build only.
FROM ${NODE_IMAGE}
WORKDIR /app
RUN useradd --system --uid 10001 --create-home --home-dir /home/nexus --shell /usr/sbin/nologin nexus
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY container/nexus.toml /etc/nexus.toml
ENV NODE_ENV=production \
    NEXUS_CONFIG_PATH=/etc/nexus.toml \
    NEXUS_LISTEN_ADDRESS=0.0.0.0:8000 \
    NEXUS_LOG_STYLE=json \
    HOME=/home/nexus
USER nexus
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["node", "/app/dist/healthcheck.js"]
ENTRYPOINT ["node", "/app/dist/cli.js"]
