#!/usr/bin/env node
/**
 * The container's HEALTHCHECK: exit 0 when nexus answers its health path on the port it listens
 * on (NEXUS_LISTEN_ADDRESS, else 8000), 1 otherwise. NEXUS_HEALTH_PATH names another path.
 */
const port = /:(\d+)$/.exec(process.env['NEXUS_LISTEN_ADDRESS'] ?? '')?.[1] ?? '8000';
const path = process.env['NEXUS_HEALTH_PATH'] ?? '/health';
try {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(2_000) });
  process.exit(response.ok ? 0 : 1);
} catch {
  process.exit(1);
}
