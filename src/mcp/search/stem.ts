/**
 * A light English stemmer for tool text: plurals, -ing and -ed, and a final "e", so that
 * delete/deletes/deleted/deleting and file/files meet. Deliberately small and predictable;
 * it never strips from words of three letters or fewer, or from words with digits.
 */
const DOUBLED = /([b-df-hj-np-tv-z])\1$/;
const KEEP_DOUBLE = /(ll|ss|zz)$/;

function undouble(word: string): string {
  return DOUBLED.test(word) && !KEEP_DOUBLE.test(word) ? word.slice(0, -1) : word;
}

export function stem(word: string): string {
  if (word.length <= 3 || /\d/.test(word)) return word;
  let w = word;
  if (/ie[sd]$/.test(w) && w.length > 4) w = `${w.slice(0, -3)}y`;
  else if (/(ss|x|ch|sh|z)es$/.test(w)) w = w.slice(0, -2);
  else if (w.endsWith('s') && !/(ss|us|is)$/.test(w)) w = w.slice(0, -1);
  if (w.endsWith('ing') && w.length > 5) w = undouble(w.slice(0, -3));
  else if (w.endsWith('ed') && w.length > 4) w = undouble(w.slice(0, -2));
  if (w.endsWith('e') && w.length > 3) w = w.slice(0, -1);
  return w;
}
