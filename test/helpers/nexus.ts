/** Starts nexus in-process on a free loopback port from a TOML string, and connects SDK clients to it. */
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { parse } from 'smol-toml';
import { afterEach } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { silentLogger, type Logger } from '../../src/log.js';
import { startNexus, type RunningNexus } from '../../src/server.js';

/** nexus started from `toml` (given something to serve when it has nothing: see servingSomething). */
export async function startTestNexus(toml: string, logger: Logger = silentLogger): Promise<RunningNexus> {
  const config = parseConfig(parse(servingSomething(toml)), 'test.toml');
  const nexus = await startNexus(config, { logger, listenAddress: { host: '127.0.0.1', port: 0 } });
  await nexus.ready;
  return nexus;
}

export async function connectClient(nexus: RunningNexus, path = '/mcp', headers: Record<string, string> = {}): Promise<Client> {
  const client = new Client({ name: 'nexus-test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${nexus.url}${path}`), { requestInit: { headers } }));
  return client;
}

/** The text of the first content block of a tool result. */
export function firstText(result: unknown): string {
  const content = (result as { content?: { type: string; text?: string }[] }).content;
  return content?.find((block) => block.type === 'text')?.text ?? '';
}

/**
 * For a test file: starts nexus instances, clients and servers that are all closed (or killed)
 * after each test. Call it at the top level of the file.
 */
export function closedAfterEach() {
  const running: RunningNexus[] = [];
  const clients: Client[] = [];
  const started: { kill(): Promise<unknown> }[] = [];
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.close()));
    await Promise.all(running.splice(0).map((nexus) => nexus.close()));
    await Promise.all(started.splice(0).map((server) => server.kill()));
  });
  return {
    async nexusWith(toml: string, logger: Logger = silentLogger): Promise<RunningNexus> {
      const nexus = await startTestNexus(toml, logger);
      running.push(nexus);
      return nexus;
    },
    async clientOf(nexus: RunningNexus): Promise<Client> {
      const client = await connectClient(nexus);
      clients.push(client);
      return client;
    },
    /** Kills `server` after the test. */
    started<T extends { kill(): Promise<unknown> }>(server: T): T {
      started.push(server);
      return server;
    },
  };
}

/** Config for client identification by `x-client-id` and `x-group` headers, with these groups. */
export function identifiedBy(groups: string[]): string {
  return `
[server.client_identification]
enabled = true
client_id.http_header = "x-client-id"
group_id.http_header = "x-group"
[server.client_identification.validation]
group_values = ${JSON.stringify(groups)}
`;
}

/**
 * What makes a config one nexus takes (it refuses one with nothing to serve), for tests of the
 * layers in front of the servers: an LLM provider nobody calls, at a closed port (no process).
 */
const SOMETHING_TO_SERVE = `
[llm.providers.placeholder]
type = "openai"
api_key = "unused"
base_url = "http://127.0.0.1:9/v1"
`;

/** `toml`, with SOMETHING_TO_SERVE when it names no server and no provider of its own. */
export function servingSomething(toml: string): string {
  return /\[\[?(mcp\.servers|llm\.providers)\./.test(toml) ? toml : `${toml}\n${SOMETHING_TO_SERVE}`;
}
