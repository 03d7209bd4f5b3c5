/**
 * Words that mean the same thing in tool descriptions, so "remove file" finds `delete_file`.
 * Each line is one group; a word may sit in several groups (e.g. "open"). An entry joined with
 * "+" ("pull+request") stands for all of its words together. Lookups are by stem; expansions are
 * raw words, which the index stems like any other query word.
 */
import { stem } from './stem.js';

const GROUPS: readonly string[] = [
  // verbs
  'delete remove erase destroy drop unlink purge discard trash',
  'get fetch read retrieve obtain load view download',
  'find search query lookup locate look discover seek grep',
  'create add new make insert generate open',
  'update edit modify change patch alter amend fix correct',
  'list enumerate browse show',
  'write save store put persist record overwrite',
  'send post publish submit',
  'run execute exec invoke call trigger launch start evaluate eval',
  'stop kill terminate end cancel abort halt',
  'move rename relocate',
  'copy duplicate clone',
  'navigate goto go visit open browse',
  'click press tap',
  'select choose pick',
  'watch monitor track observe',
  'revert rollback undo restore',
  'link relation relationship connect associate',
  'type fill enter input',
  'screenshot capture snapshot snap',
  'close shut exit',
  'upload attach',
  'summarize summary digest',
  'calculate compute sum total',
  'think reason reflect',
  'describe explain detail info information',
  'check verify validate test',
  'multiple several many batch bulk',
  'price cost pricing billing',
  'height elevation altitude',
  'duration time',
  'travel commute trip journey',
  'install setup configure',
  // nouns
  'repo repository',
  'pr pull+request',
  'mr merge+request',
  'issue ticket bug',
  'directory dir folder',
  'file document',
  'doc docs documentation',
  'message msg chat dm',
  'channel room conversation',
  'user account member person people profile developer contributor',
  'image picture photo img',
  'database db',
  'page webpage website site url web',
  'browser tab',
  'location place address geocode coordinates gps',
  'directions route',
  'note memo',
  'memory knowledge graph entity',
  'comment reply',
  'email mail',
  'secret token credential key',
  'log logs',
  'error exception failure',
  'process pid',
  'command shell terminal',
  'env environment variable',
  'text content',
  'label tag',
  'date time',
  'ts typescript',
  'js javascript',
  'py python',
  'k8s kubernetes kube',
  'config configuration settings',
  'weather forecast',
];

const table = new Map<string, string[][]>();
for (const group of GROUPS) {
  const entries = group.split(' ').map((entry) => entry.split('+'));
  for (const [i, entry] of entries.entries()) {
    if (entry.length > 1) continue; // "pull request" is looked up word by word, not as a pair
    const key = stem(entry[0] as string);
    const others = entries.filter((_, j) => j !== i);
    table.set(key, [...(table.get(key) ?? []), ...others]);
  }
}

/** Synonyms of a word, by its stem: each is one or more raw words (never the word itself). */
export function synonymsOf(word: string): string[][] {
  return table.get(stem(word)) ?? [];
}
