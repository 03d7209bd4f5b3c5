/** Timing helpers shared by the benchmarks: latencies of sequential calls, throughput under load. */

/** The value at quantile `q` (0..1) of ascending `sorted`. */
export function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}

/** Milliseconds of each of `calls` sequential calls, sorted ascending. */
export async function latencies(call: () => Promise<unknown>, calls: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < calls; i++) {
    const start = performance.now();
    await call();
    times.push(performance.now() - start);
  }
  return times.sort((a, b) => a - b);
}

/** Calls per second for `calls` calls kept `concurrency` at a time. */
export async function throughput(call: () => Promise<unknown>, calls: number, concurrency: number): Promise<number> {
  let sent = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (sent < calls) {
        sent++;
        await call();
      }
    }),
  );
  return calls / ((performance.now() - start) / 1000);
}

/**
 * The SDK's HTTP client transport hands one long-lived AbortSignal to every fetch, which piles up
 * listeners on Node 20 (and slows the client down); a fresh signal per request, as nexus's own
 * downstream fetch does, keeps a measuring client clean.
 */
export const freshSignalFetch = ((url: string | URL, init?: RequestInit) =>
  fetch(url, { ...init, signal: init?.signal ? AbortSignal.any([init.signal]) : undefined })) as typeof fetch;
