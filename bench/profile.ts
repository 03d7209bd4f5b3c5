/**
 * Profiles nexus on the hot path: a nexus process (node --cpu-prof) in front of the minimal
 * fixture, driven by one SDK client making `execute` calls. Prints where nexus's CPU time goes.
 * Usage: node --import tsx bench/profile.ts [calls] [concurrency]
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { freePort, NEXUS_BIN, spawnNode, startFixtureHttp } from '../test/helpers/processes.js';

const calls = Number(process.argv[2] ?? 5000);
const concurrency = Number(process.argv[3] ?? 1);
const dir = mkdtempSync('/tmp/nexus-prof-');
const fixture = await startFixtureHttp();
writeFileSync(`${dir}/nexus.toml`, `[mcp.servers.mini]\nurl = "${fixture.url}"\nprotocol = "streamable-http"\n`);
const port = await freePort();
const nexus = spawnNode(['--cpu-prof', `--cpu-prof-dir=${dir}`, NEXUS_BIN, '-c', `${dir}/nexus.toml`, '-l', `127.0.0.1:${port}`, '--log-style', 'json']);
while (!nexus.output().includes('downstreams connected')) await new Promise((r) => setTimeout(r, 50));
const fetchFresh = ((url: string | URL, init?: RequestInit) =>
  fetch(url, { ...init, signal: init?.signal ? AbortSignal.any([init.signal]) : undefined })) as typeof fetch;
const client = new Client({ name: 'prof', version: '1' });
await client.connect(new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp`), { fetch: fetchFresh }));
const params = { name: 'execute', arguments: { name: 'mini__echo', arguments: { message: 'hi' } } };
let sent = 0;
const start = performance.now();
await Promise.all(Array.from({ length: concurrency }, async () => { while (sent++ < calls) await client.request({ method: 'tools/call', params }); }));
console.log(`${calls} calls in ${(performance.now() - start).toFixed(0)} ms`);
await client.close();
await nexus.kill();
await fixture.kill();
const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
interface Node { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }
const profile = JSON.parse(readFileSync(`${dir}/${file}`, 'utf8')) as { nodes: Node[]; samples: number[]; timeDeltas: number[] };
const self = new Map<number, number>();
profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const total = [...self.values()].reduce((a, b) => a + b, 0);
const short = (url: string) => url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/dist\//, 'nexus/');
const bySelf = new Map<string, number>();
const byPackage = new Map<string, number>();
const inclusive = new Map<string, number>();
for (const [id, t] of self) {
  const n = byId.get(id)!;
  const key = `${n.callFrame.functionName || '(anon)'} ${short(n.callFrame.url)}:${n.callFrame.lineNumber}`;
  bySelf.set(key, (bySelf.get(key) ?? 0) + t);
  const pkg = n.callFrame.url ? short(n.callFrame.url).split('/').slice(0, n.callFrame.url.includes('@') ? 2 : 1).join('/') : n.callFrame.functionName;
  byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + t);
  const seen = new Set<string>();
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const f = byId.get(cur)!.callFrame;
    const k = `${f.functionName || '(anon)'} ${short(f.url)}:${f.lineNumber}`;
    if (seen.has(k)) continue;
    seen.add(k);
    inclusive.set(k, (inclusive.get(k) ?? 0) + t);
  }
}
const show = (title: string, m: Map<string, number>, n: number) => {
  console.log(`\n${title} (total ${(total / 1000).toFixed(0)} ms, per call ${(total / calls).toFixed(0)} µs)`);
  for (const [k, t] of [...m].sort((a, b) => b[1] - a[1]).slice(0, n)) console.log(`${((100 * t) / total).toFixed(1).padStart(5)}%  ${(t / calls).toFixed(1).padStart(6)} µs  ${k}`);
};
show('by package (self)', byPackage, 25);
show('by function (self)', bySelf, 40);
show('inclusive', inclusive, 60);
