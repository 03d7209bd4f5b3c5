/** Starts nexus in-process on a free loopback port from a TOML string, and connects SDK clients to it. */
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { parse } from 'smol-toml';
import { parseConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/log.js';
import { startNexus, type RunningNexus } from '../../src/server.js';

export async function startTestNexus(toml: string): Promise<RunningNexus> {
  const config = parseConfig(parse(toml), 'test.toml');
  const nexus = await startNexus(config, { logger: silentLogger, listenAddress: { host: '127.0.0.1', port: 0 } });
  await nexus.ready;
  return nexus;
}

export async function connectClient(nexus: RunningNexus, path = '/mcp'): Promise<Client> {
  const client = new Client({ name: 'nexus-test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${nexus.url}${path}`)));
  return client;
}

/** The text of the first content block of a tool result. */
export function firstText(result: unknown): string {
  const content = (result as { content?: { type: string; text?: string }[] }).content;
  return content?.find((block) => block.type === 'text')?.text ?? '';
}
