/**
 * `npm run bench:profile [calls] [concurrency]`: where nexus's CPU goes on the hot path. A nexus
 * process under `node --cpu-prof` in front of the minimal fixture, driven by one SDK client making
 * `execute` calls; prints self time by package and inclusive time by function, per call, leaving
 * out idle time. The .cpuprofile stays in /tmp for Chrome DevTools.
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { freshSignalFetch } from './measure.js';
import { freePort, NEXUS_BIN, spawnNode, startFixtureHttp } from '../test/helpers/processes.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const calls = Number(process.argv[2] ?? 5_000);
const concurrency = Number(process.argv[3] ?? 1);
const IDLE = new Set(['(idle)', '(program)', '(garbage collector)']);

async function profileCalls(dir: string): Promise<void> {
  const fixture = await startFixtureHttp();
  writeFileSync(`${dir}/nexus.toml`, `[mcp.servers.mini]\nurl = "${fixture.url}"\nprotocol = "streamable-http"\n`);
  const port = await freePort();
  const nexus = spawnNode(['--cpu-prof', `--cpu-prof-dir=${dir}`, NEXUS_BIN, '-c', `${dir}/nexus.toml`, '-l', `127.0.0.1:${port}`]);
  try {
    while (!nexus.output().includes('downstreams connected')) await new Promise((resolve) => setTimeout(resolve, 50));
    const client = new Client({ name: 'profile', version: '1' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp`), { fetch: freshSignalFetch }));
    const params = { name: 'execute', arguments: { name: 'mini__echo', arguments: { message: 'hi' } } };
    let sent = 0;
    const start = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (sent++ < calls) await client.request({ method: 'tools/call', params });
      }),
    );
    console.log(`${calls} calls at concurrency ${concurrency} in ${(performance.now() - start).toFixed(0)} ms`);
    await client.close();
  } finally {
    await nexus.kill(); // SIGTERM: nexus exits cleanly and writes the profile
    await fixture.kill();
  }
}

const short = (url: string) => url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/dist\//, 'nexus/');
const frameName = ({ functionName, url, lineNumber }: ProfileNode['callFrame']) =>
  `${functionName || '(anonymous)'} ${short(url)}:${lineNumber + 1}`;
const packageOf = ({ url, functionName }: ProfileNode['callFrame']) => {
  if (!url) return functionName;
  const path = short(url).split('/');
  return path[0]?.startsWith('@') ? path.slice(0, 2).join('/') : (path[0] ?? url);
};

function report(profile: CpuProfile): void {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const byPackage = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let busy = 0;
  const add = (map: Map<string, number>, key: string, time: number) => map.set(key, (map.get(key) ?? 0) + time);
  for (const [id, time] of self) {
    const frame = byId.get(id)?.callFrame;
    if (!frame || IDLE.has(frame.functionName)) continue;
    busy += time;
    add(byPackage, packageOf(frame), time);
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const name = frameName((byId.get(at) as ProfileNode).callFrame);
      if (!seen.has(name)) add(inclusive, name, time);
      seen.add(name);
    }
  }
  const show = (title: string, times: Map<string, number>, rows: number) => {
    console.log(`\n${title}`);
    for (const [name, time] of [...times].sort((a, b) => b[1] - a[1]).slice(0, rows)) {
      console.log(`${((100 * time) / busy).toFixed(1).padStart(6)}%  ${(time / calls).toFixed(1).padStart(7)} µs/call  ${name}`);
    }
  };
  console.log(`busy (not idle, not GC): ${(busy / calls).toFixed(0)} µs per call, as sampled (the profiler adds its own cost)`);
  show('self time by package', byPackage, 20);
  show('inclusive time by function', inclusive, 50);
}

const dir = mkdtempSync('/tmp/nexus-profile-');
await profileCalls(dir);
const file = readdirSync(dir).find((name) => name.endsWith('.cpuprofile'));
if (!file) throw new Error(`no profile written in ${dir}`);
console.log(`profile: ${dir}/${file}`);
report(JSON.parse(readFileSync(`${dir}/${file}`, 'utf8')) as CpuProfile);
