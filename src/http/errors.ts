/** The app's last word on a request that failed in nexus's own code: an error answer, never a crash or a stack on stderr. */
import type { ErrorHandler } from 'hono';
import type { Logger } from '../log.js';
import type { AppEnv } from './app-env.js';

export function onAppError(logger: Logger): ErrorHandler<AppEnv> {
  const log = logger.child({ component: 'http' });
  return (error, c) => {
    // A client that went away while its request was read: nobody is left to answer.
    if (c.req.raw.signal.aborted || (error as NodeJS.ErrnoException).code === 'ECONNRESET') {
      log.debug({ path: c.req.path }, 'client went away during its request');
      return c.body(null, 400);
    }
    log.error({ path: c.req.path, err: error.message }, 'request failed');
    return c.json({ error: 'internal_error', error_description: 'nexus could not handle this request' }, 500);
  };
}
