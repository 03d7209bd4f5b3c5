/**
 * CSRF protection: with `[server.csrf] enabled = true`, every request but OPTIONS must carry the
 * configured header (any value). A browser cannot add a custom header to a cross-site request
 * without a CORS preflight, which the CORS rules then decide. Mounted on the MCP routes only:
 * health checks and the OAuth metadata are read by tools that send no custom headers.
 */
import type { MiddlewareHandler } from 'hono';

export function csrf(headerName: string): MiddlewareHandler {
  return async (c, next) => {
    if (c.req.method !== 'OPTIONS' && c.req.header(headerName) === undefined) {
      return c.json({ error: 'csrf_header_missing', error_description: `the ${headerName} header is required` }, 403);
    }
    await next();
  };
}
