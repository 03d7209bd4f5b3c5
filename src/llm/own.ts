/**
 * Looking a name a client (or a provider) chose up in a record of config or of constants: only
 * the record's own entries count, never what every object inherits (`constructor`, `__proto__`,
 * `toString`, `hasOwnProperty`, …).
 */
export const own = <T>(record: Readonly<Record<string, T>>, key: string): T | undefined =>
  Object.hasOwn(record, key) ? record[key] : undefined;
