/**
 * How deeply a parsed JSON body nests. JSON.parse copes with any depth, but much of what comes
 * after it is recursive (JSON.stringify when nexus forwards the body, schema checks): a 12 KB body
 * nested 6,000 levels deep overflows the stack there. Bodies are checked once, as they come in.
 */

/** Whether `value` nests objects and arrays more than `max` levels deep (walked without recursion). */
export function nestedDeeperThan(value: unknown, max: number): boolean {
  const nodes: unknown[] = [value];
  const depths: number[] = [1];
  while (nodes.length > 0) {
    const node = nodes.pop();
    const depth = depths.pop() as number;
    if (node === null || typeof node !== 'object') continue;
    if (depth > max) return true;
    for (const child of Array.isArray(node) ? node : Object.values(node)) {
      if (child !== null && typeof child === 'object') {
        nodes.push(child);
        depths.push(depth + 1);
      }
    }
  }
  return false;
}
