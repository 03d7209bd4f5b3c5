#!/usr/bin/env node
// Validate a query file (default bench/search/queries.json) against bench/search/catalog.json:
//   node bench/search/check-queries.mjs [queries-heldout.json | queries-tasks-tuning.json | ...]
// The held-out set is smaller, so its minimum counts are half those of the tuning set; the task
// sets hold task queries only.
//
//   node bench/search/check-queries.mjs
//
// Checks: ids unique and short, kinds known, 1-5 non-empty keywords, a
// non-empty expected list without duplicates, every expected "server__tool"
// present in the catalog, minimum count per kind, and at most 4 queries
// whose expected answer is the same single tool. Prints the counts and the
// catalog coverage; exits 1 on any error.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const catalog = JSON.parse(readFileSync(path.join(HERE, 'catalog.json'), 'utf8'));
const FILE = process.argv[2] ?? 'queries.json';
const queries = JSON.parse(readFileSync(path.resolve(HERE, FILE), 'utf8'));
const SCALE = FILE.endsWith('queries.json') && !FILE.includes('heldout') ? 1 : 0.5;

// The task sets (queries-tasks-*.json) hold task queries only, 80 or more of them.
const TASKS_ONLY = FILE.includes('queries-tasks-');
const MIN_PER_KIND = TASKS_ONLY
  ? { task: 80 }
  : Object.fromEntries(
      Object.entries({ paraphrase: 40, task: 40, typo: 25, ambiguous: 25, name: 15 }).map(([k, n]) => [k, Math.ceil(n * SCALE)]),
    );
const MIN_TOTAL = TASKS_ONLY ? 80 : Math.ceil(160 * SCALE);
const MAX_SAME_SINGLE = 4;

const errors = [];
const err = (msg) => errors.push(msg);

const tools = new Map(); // "server__tool" -> server name
for (const s of catalog.servers) for (const t of s.tools) tools.set(`${s.name}__${t.name}`, s.name);

if (!Array.isArray(queries)) {
  console.error(`${FILE} must be an array`);
  process.exit(1);
}

const ids = new Set();
const perKind = Object.fromEntries(Object.keys(MIN_PER_KIND).map((k) => [k, 0]));
const singles = new Map(); // tool -> ids of queries expecting only it
const expectedTools = new Set();

for (const [i, q] of queries.entries()) {
  const where = `query #${i}${q && q.id ? ` (${q.id})` : ''}`;
  if (!q || typeof q !== 'object' || Array.isArray(q)) {
    err(`${where}: not an object`);
    continue;
  }
  const extra = Object.keys(q).filter((k) => !['id', 'kind', 'keywords', 'expected'].includes(k));
  if (extra.length) err(`${where}: unknown key(s) ${extra.join(', ')}`);

  if (typeof q.id !== 'string' || !/^[a-z0-9_-]{1,16}$/.test(q.id)) err(`${where}: id must be a short [a-z0-9_-] string`);
  else if (ids.has(q.id)) err(`${where}: duplicate id`);
  else ids.add(q.id);

  if (!(q.kind in MIN_PER_KIND)) err(`${where}: unknown kind ${JSON.stringify(q.kind)}`);
  else perKind[q.kind]++;

  if (!Array.isArray(q.keywords) || q.keywords.length < 1 || q.keywords.length > 5) {
    err(`${where}: keywords must be an array of 1 to 5 strings`);
  } else {
    for (const k of q.keywords) {
      if (typeof k !== 'string' || k.trim() === '' || k !== k.trim()) err(`${where}: bad keyword ${JSON.stringify(k)}`);
    }
    if (new Set(q.keywords).size !== q.keywords.length) err(`${where}: repeated keyword`);
  }

  if (!Array.isArray(q.expected) || q.expected.length === 0) {
    err(`${where}: expected must be a non-empty array`);
    continue;
  }
  if (new Set(q.expected).size !== q.expected.length) err(`${where}: repeated expected tool`);
  for (const e of q.expected) {
    if (!tools.has(e)) err(`${where}: expected tool ${JSON.stringify(e)} is not in catalog.json`);
    else expectedTools.add(e);
  }
  if (q.kind === 'ambiguous' && q.expected.length < 2) err(`${where}: an ambiguous query needs at least 2 expected tools`);
  if (q.expected.length === 1) {
    const list = singles.get(q.expected[0]) ?? [];
    list.push(q.id);
    singles.set(q.expected[0], list);
  }
}

for (const [tool, list] of singles) {
  if (list.length > MAX_SAME_SINGLE) err(`${list.length} queries (${list.join(', ')}) expect only ${tool}; at most ${MAX_SAME_SINGLE}`);
}
for (const [kind, min] of Object.entries(MIN_PER_KIND)) {
  if (perKind[kind] < min) err(`kind ${kind}: ${perKind[kind]} queries, need at least ${min}`);
}
if (queries.length < MIN_TOTAL) err(`${queries.length} queries, need at least ${MIN_TOTAL}`);

// Report.
console.log('queries per kind:');
for (const [kind, n] of Object.entries(perKind)) console.log(`  ${kind.padEnd(11)} ${String(n).padStart(4)}  (min ${MIN_PER_KIND[kind]})`);
console.log(`  ${'total'.padEnd(11)} ${String(queries.length).padStart(4)}  (min ${MIN_TOTAL})`);
const multi = queries.filter((q) => Array.isArray(q.expected) && q.expected.length > 1).length;
console.log(`queries with more than one expected tool: ${multi}`);

const servers = catalog.servers.map((s) => s.name);
const covered = new Set([...expectedTools].map((t) => tools.get(t)));
const uncovered = servers.filter((s) => !covered.has(s));
console.log(`catalog: ${servers.length} servers, ${tools.size} tools`);
console.log(`covered: ${covered.size}/${servers.length} servers, ${expectedTools.size}/${tools.size} distinct tools expected`);
if (uncovered.length) console.log(`servers with no expected tool: ${uncovered.join(', ')}`);

if (errors.length) {
  console.error(`\n${errors.length} error(s):`);
  for (const e of errors) console.error(`  - ${e}`);
  process.exit(1);
}
console.log(`\n${FILE} OK`);
