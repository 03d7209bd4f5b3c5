/** What the LLM routing tests share: vendor fixtures on loopback, and nexus started with an `[llm]` config. */
import { parse } from 'smol-toml';
import { parseConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/log.js';
import { startNexus, type RunningNexus } from '../../src/server.js';
import { ROOT, startOnOwnPort, type Spawned } from './processes.js';

/** The API base path each vendor fixture serves under. */
const API_BASE = { openai: '/v1', anthropic: '/v1', google: '/v1beta', bedrock: '' } as const;
export type Vendor = keyof typeof API_BASE;

export interface VendorFixture extends Spawned {
  /** The fixture's API base, for a provider's `base_url`. */
  url: string;
  /** The last request with a body the fixture got. */
  last(): Promise<{ url: string; headers: Record<string, string>; body: Record<string, unknown> }>;
}

/** A fixture speaking `vendor`'s wire format (test/fixtures/<vendor>-server.mjs), on a port of its own. */
export async function startVendorFixture(vendor: Vendor): Promise<VendorFixture> {
  const spawned = await startOnOwnPort(`${ROOT}test/fixtures/${vendor}-server.mjs`);
  const origin = `http://127.0.0.1:${spawned.port}`;
  return { ...spawned, url: `${origin}${API_BASE[vendor]}`, last: async () => (await fetch(`${origin}/debug/last`)).json() as never };
}

export async function nexusWith(toml: string, llmDiscoveryIntervalMs?: number): Promise<RunningNexus> {
  const nexus = await startNexus(parseConfig(parse(toml), 'test.toml'), {
    logger: silentLogger,
    listenAddress: { host: '127.0.0.1', port: 0 },
    llmDiscoveryIntervalMs,
  });
  await nexus.ready;
  return nexus;
}

/** The config error `toml` gives (its message), or 'loaded'. */
export function loadOutcome(toml: string): string {
  try {
    parseConfig(parse(toml), 'test.toml');
  } catch (error) {
    return (error as Error).message;
  }
  return 'loaded';
}
