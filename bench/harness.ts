/** What the gateway and LLM benchmarks share: processes they start and clean up, and interleaved latency rounds. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { latencies } from './measure.js';
import { freePort, NEXUS_BIN, spawnNode, type Spawned } from '../test/helpers/processes.js';

export const CALLS = Number(process.env.BENCH_CALLS ?? 2_000);
export const WARM_UP = 300;
/** Rounds that latency measurements take turns over. */
export const ROUNDS = 10;
/** Run at the end, last first. */
export const cleanups: (() => Promise<unknown>)[] = [];

/** `spawned`, killed at the end. */
export function track<T extends Spawned>(spawned: T): T {
  cleanups.push(() => spawned.kill());
  return spawned;
}

/**
 * Latencies of every path, measured in rounds that take turns (a slice of each path per round),
 * so a drift in the machine's speed during the run falls on all paths alike. Sorted, per path.
 */
export async function interleavedLatencies(calls: (() => Promise<unknown>)[]): Promise<number[][]> {
  for (const call of calls) for (let i = 0; i < WARM_UP; i++) await call();
  const times: number[][] = calls.map(() => []);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, call] of calls.entries()) times[i]?.push(...(await latencies(call, Math.ceil(CALLS / ROUNDS))));
  }
  return times.map((list) => list.sort((a, b) => a - b));
}

/**
 * nexus as users run it: its own process (the built CLI), so it does not share a thread with the
 * measuring client. Resolves once every downstream is connected (`ready`: the log line to wait for).
 */
export async function nexusProcess(
  toml: string,
  bin = NEXUS_BIN,
  ready = 'downstreams connected',
): Promise<{ url: string; pid: number; stop: () => Promise<unknown> }> {
  const file = `${mkdtempSync('/tmp/nexus-bench-')}/nexus.toml`;
  writeFileSync(file, toml);
  const port = await freePort();
  // Default options (text logs), so RSS is what a user sees.
  const nexus = track(spawnNode([bin, '-c', file, '-l', `127.0.0.1:${port}`]));
  while (!nexus.output().includes(ready)) {
    if (nexus.child.exitCode !== null) throw new Error(nexus.output());
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { url: `http://127.0.0.1:${port}`, pid: nexus.child.pid as number, stop: () => nexus.kill() };
}
