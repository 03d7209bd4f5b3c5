/** Keeping the `k` best of many candidates without sorting them all. */

/** Puts `item` into `best` (at most `k` items, best first) where it belongs, if it belongs there. */
export function keepBest<T>(best: T[], item: T, k: number, better: (a: T, b: T) => boolean): void {
  if (best.length === k && !better(item, best[k - 1] as T)) return;
  let at = best.length === k ? k - 1 : best.length;
  while (at > 0 && better(item, best[at - 1] as T)) at--;
  best.splice(at, 0, item);
  if (best.length > k) best.pop();
}
