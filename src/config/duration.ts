/** Durations in config files: "500ms", "60s", "5m", "1h", "1d", or sums such as "1m30s". */
const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const PART = /(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)/gy;

/** Milliseconds for a duration string, or undefined when it is not one. */
export function parseDuration(text: string): number | undefined {
  const source = text.trim();
  if (source === '') return undefined;
  PART.lastIndex = 0;
  let total = 0;
  while (PART.lastIndex < source.length) {
    const match = PART.exec(source);
    if (!match) return undefined;
    total += Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
    while (source[PART.lastIndex] === ' ') PART.lastIndex++;
  }
  return total;
}
