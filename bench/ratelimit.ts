/**
 * `npm run bench:ratelimit`: what rate limiting adds to a request, side by side in one run:
 * limits off, in memory, and in a real redis-server (started here on a free loopback port).
 * Each variant serves the same cheap MCP request (ping) with global and per-IP limits high
 * enough never to refuse. The variants run in interleaved rounds; figures are medians.
 */
import { parse } from 'smol-toml';
import { Agent, request } from 'undici';
import { parseConfig } from '../src/config/load.js';
import { latencies, quantile, throughput } from './measure.js';
import { silentLogger } from '../src/log.js';
import { startNexus } from '../src/server.js';
import { startRedis } from '../test/helpers/redis.js';

const ROUNDS = 6;
const PER_ROUND = 500;
const WARM_UP = 500;
const CONCURRENCY = 16;
const BODY = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' });
const HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18' };

interface Variant {
  label: string;
  send: () => Promise<void>;
  times: number[];
  rates: number[];
  close: () => Promise<void>;
}

async function variant(label: string, toml: string): Promise<Variant> {
  const nexus = await startNexus(parseConfig(parse(toml), 'bench'), {
    logger: silentLogger,
    listenAddress: { host: '127.0.0.1', port: 0 },
  });
  const agent = new Agent({ connections: CONCURRENCY });
  const send = async () => {
    const response = await request(`${nexus.url}/mcp`, { method: 'POST', headers: HEADERS, body: BODY, dispatcher: agent });
    await response.body.text();
    if (response.statusCode !== 200) throw new Error(`${label}: status ${response.statusCode}`);
  };
  return { label, send, times: [], rates: [], close: async () => (await agent.close(), await nexus.close()) };
}

async function round(v: Variant): Promise<void> {
  v.times.push(...(await latencies(v.send, PER_ROUND)));
  v.rates.push(await throughput(v.send, PER_ROUND, CONCURRENCY));
}

const LIMITS = `
  global = { limit = 10000000, interval = "60s" }
  per_ip = { limit = 10000000, interval = "60s" }
`;
const redis = await startRedis();
const variants = [
  await variant('off', ''),
  await variant('memory', `[server.rate_limits]\n${LIMITS}`),
  await variant('redis', `[server.rate_limits]\nstorage = { type = "redis", url = "${redis.url}" }\n${LIMITS}`),
];
try {
  for (const v of variants) for (let i = 0; i < WARM_UP; i++) await v.send();
  // Interleaved rounds, so every variant sees the same machine, JIT and GC conditions.
  for (let r = 0; r < ROUNDS; r++) for (const v of variants) await round(v);
  const base = variants[0] as Variant;
  const p50 = (v: Variant) =>
    quantile(
      [...v.times].sort((a, b) => a - b),
      0.5,
    );
  const rate = (v: Variant) =>
    quantile(
      [...v.rates].sort((a, b) => a - b),
      0.5,
    );
  console.log(`\nRate limiting cost per request: ping over HTTP, ${ROUNDS} interleaved rounds of ${PER_ROUND} sequential requests`);
  console.log(`(after ${WARM_UP} warm-up each) and ${PER_ROUND} at concurrency ${CONCURRENCY}; medians\n`);
  console.log(
    `${'limits'.padEnd(8)}${'p50 ms'.padStart(9)}${'added'.padStart(9)}${'p99 ms'.padStart(9)}${'req/s'.padStart(9)}${'vs off'.padStart(8)}`,
  );
  for (const v of variants) {
    const added = p50(v) - p50(base);
    console.log(
      `${v.label.padEnd(8)}${p50(v).toFixed(3).padStart(9)}${`${added >= 0 ? '+' : ''}${added.toFixed(3)}`.padStart(9)}${quantile(
        [...v.times].sort((a, b) => a - b),
        0.99,
      )
        .toFixed(3)
        .padStart(9)}${rate(v).toFixed(0).padStart(9)}${(rate(v) / rate(base)).toFixed(2).padStart(8)}`,
    );
  }
} finally {
  await Promise.all(variants.map((v) => v.close()));
  await redis.kill();
}
