/**
 * Server-to-client traffic through nexus: the server's requests (sampling, elicitation, roots)
 * reach the client of the call they belong to, in its protocol era, and log messages and list
 * changes reach the clients that listen.
 */
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as TransportV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
  LoggingMessageNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import type { RunningNexus } from '../src/server.js';
import { closedAfterEach, firstText } from './helpers/nexus.js';
import { EVERYTHING } from './helpers/processes.js';

const { nexusWith: start, started } = closedAfterEach();
const track = <T extends { close(): Promise<unknown> }>(client: T): T => (started({ kill: () => client.close() }), client);

const everythingStdio = `
[mcp.servers.everything]
cmd = ["node", "${EVERYTHING}", "stdio"]
`;

type Capabilities = ConstructorParameters<typeof ClientV1>[1] extends infer O ? (O extends { capabilities?: infer C } ? C : never) : never;

/** A 2025-era client (SDK v1) that answers sampling, elicitation and roots as a test says. */
async function legacyClient(nexus: RunningNexus, capabilities: Capabilities, name = 'v1-client') {
  const client = track(new ClientV1({ name, version: '1.0.0' }, { capabilities }));
  const seen = { sampling: [] as unknown[], elicitation: [] as unknown[], roots: 0, logs: [] as unknown[] };
  if (capabilities?.sampling) {
    client.setRequestHandler(CreateMessageRequestSchema, (request) => {
      seen.sampling.push(request.params);
      return { model: `${name}-model`, role: 'assistant', content: { type: 'text', text: `sampled by ${name}` } };
    });
  }
  if (capabilities?.elicitation) {
    client.setRequestHandler(ElicitRequestSchema, (request) => {
      seen.elicitation.push(request.params);
      return { action: 'accept', content: { name: 'Ada', check: true } };
    });
  }
  if (capabilities?.roots) {
    client.setRequestHandler(ListRootsRequestSchema, () => {
      seen.roots++;
      return { roots: [{ uri: 'file:///tmp/project', name: 'project' }] };
    });
  }
  client.setNotificationHandler(LoggingMessageNotificationSchema, (notification) => void seen.logs.push(notification.params));
  await client.connect(new TransportV1(new URL(`${nexus.url}/mcp`)));
  return { client, seen };
}

const execute = (client: ClientV1, name: string, args: Record<string, unknown> = {}) =>
  client.callTool({ name: 'execute', arguments: { name, arguments: args } });

describe('server-to-client requests, 2025-era client', () => {
  it('a sampling request reaches the client of the call and its answer goes back', async () => {
    const nexus = await start(everythingStdio);
    const { client, seen } = await legacyClient(nexus, { sampling: {} });
    const result = await execute(client, 'everything__trigger-sampling-request', { prompt: 'hello', maxTokens: 5 });
    expect(seen.sampling).toHaveLength(1);
    expect(JSON.stringify(result)).toContain('sampled by v1-client');
  });
});
