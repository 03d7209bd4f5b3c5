/** What connecting to a downstream server opens, and the stdio kind of it (remote-transport.ts has the other). */
import type { Transport } from '@modelcontextprotocol/client';
import type { StdioServerConfig } from '../../config/schema.js';
import type { DirectHttp } from './direct-http.js';
import { StdioTransport, type StdioOptions } from './stdio.js';

export type RemoteProtocol = 'streamable-http' | 'sse';

/** A transport plus whatever must end with it (a child and its descendants, a session, a pool). */
export interface OpenedTransport {
  transport: Transport;
  /** For streamable HTTP: the lean path for tool calls on the session `transport` opens. */
  direct?: DirectHttp;
  /** Ends the connection: runs `closeClient`, then makes sure nothing it used is left behind. */
  shutdown(closeClient: () => Promise<void>): Promise<void>;
}

/** A stdio server: our own transport, which ends the child's whole process group when closed. */
export function stdioTransport(config: StdioServerConfig, options: StdioOptions): OpenedTransport {
  const transport = new StdioTransport(config, options);
  return {
    transport,
    // Closing the client closes the transport, unless the client never got as far as holding it.
    shutdown: async (closeClient) => {
      await closeClient();
      await transport.close();
    },
  };
}
