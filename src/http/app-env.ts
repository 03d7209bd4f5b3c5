/** What the middlewares leave on a request's context for the handlers after them. */
import type { ClientIdentityVariables } from './client-identity.js';
import type { ClientIpVariables } from './client-ip.js';
import type { AuthVariables } from './oauth.js';

export type AppEnv = { Variables: AuthVariables & ClientIpVariables & ClientIdentityVariables };
