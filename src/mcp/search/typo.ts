/**
 * Is `a` within one typo of `b`? One typo is one inserted, missing or wrong letter, or two
 * neighbouring letters swapped (Damerau). Linear in the word length, no allocation.
 */
export function withinOneTypo(a: string, b: string): boolean {
  if (a === b) return true;
  const lengthGap = a.length - b.length;
  if (lengthGap > 1 || lengthGap < -1) return false;
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length - 1;
  let endB = b.length - 1;
  while (endA >= start && endB >= start && a[endA] === b[endB]) {
    endA--;
    endB--;
  }
  const restA = endA - start + 1;
  const restB = endB - start + 1;
  // One letter inserted, missing or replaced.
  if (restA <= 1 && restB <= 1) return true;
  // Two neighbouring letters swapped.
  return restA === 2 && restB === 2 && a[start] === b[endB] && a[endA] === b[start];
}
