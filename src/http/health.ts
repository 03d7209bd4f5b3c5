/** `GET <health.path>`: a plain liveness check, never behind auth or rate limits. */
import type { Hono } from 'hono';

export function mountHealth(app: Hono, path: string): void {
  app.get(path, (c) => c.json({ status: 'healthy' }));
}
