/** `GET <health.path>`: a plain liveness check, never behind auth or rate limits. */
import type { Env, Hono } from 'hono';

export function mountHealth<E extends Env>(app: Hono<E>, path: string): void {
  app.get(path, (c) => c.json({ status: 'healthy' }));
}
