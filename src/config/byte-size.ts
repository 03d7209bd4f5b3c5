/** Sizes in config files: a number of bytes, or "512KiB", "32 MiB", "1GiB" (binary) and "10MB" (decimal). */
const UNIT_BYTES: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
};

/** Bytes for a size string, or undefined when it is not one. */
export function parseByteSize(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  const unit = UNIT_BYTES[(match?.[2] || 'b').toLowerCase()];
  if (!match || unit === undefined) return undefined;
  return Math.floor(Number(match[1]) * unit);
}
