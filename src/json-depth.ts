/**
 * How deeply a parsed JSON body nests. JSON.parse copes with any depth, but much of what comes
 * after it is recursive (JSON.stringify when nexus forwards the body, schema checks): a 12 KB body
 * nested 6,000 levels deep overflows the stack there. Bodies are checked once, as they come in.
 */

/** Whether `value` nests objects and arrays more than `max` levels deep (walked without recursion). */
export function nestedDeeperThan(value: unknown, max: number): boolean {
  const nodes: object[] = [];
  const depths: number[] = [];
  const visit = (node: unknown, depth: number) => {
    if (node !== null && typeof node === 'object') {
      nodes.push(node);
      depths.push(depth);
    }
  };
  visit(value, 1);
  while (nodes.length > 0) {
    const node = nodes.pop() as object;
    const depth = depths.pop() as number;
    if (depth > max) return true;
    // for…in, not Object.values: no array the size of a huge object is made to walk it.
    if (Array.isArray(node)) for (const child of node) visit(child, depth + 1);
    else for (const key in node) visit((node as Record<string, unknown>)[key], depth + 1);
  }
  return false;
}
