#!/usr/bin/env node
// Harvest a real MCP tool catalog for the search benchmark.
//
//   node bench/search/harvest.mjs            (from the repo root)
//
// 1. Installs a pinned list of MCP server packages from npm, each into its
//    own folder under bench/search/.cache/servers/ (git-ignored). Install
//    scripts are skipped and browser downloads switched off: the servers are
//    only asked for their tool list, never to run a tool.
// 2. Starts each server over stdio with the project's MCP client, calls
//    tools/list (all pages), closes the client and makes sure the child and
//    anything it spawned are dead.
// 3. Writes bench/search/catalog.json (servers sorted by name, tools in the
//    order the server listed them, only the tool-definition keys).
//
// Servers that need no backend run inside an empty network namespace
// (`unshare -n`) where the machine allows it, so a server that phones home
// (telemetry, update checks) at start-up cannot reach anything. The Postgres
// and Redis servers need loopback and run without it.
//
// Options:  --only a,b   harvest just these servers (prints, does not write)
//           --no-install skip the npm install step

import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
const CACHE = path.join(HERE, '.cache');
const SANDBOX = path.join(CACHE, 'sandbox'); // the directory handed to file servers
const HOME = path.join(CACHE, 'home'); // a throw-away HOME so servers don't touch the real one
const OUT = path.join(HERE, 'catalog.json');

// The MCP client comes from the project's own dependencies.
const requireFromRepo = createRequire(path.join(REPO, 'package.json'));
const importFromRepo = (spec) => import(pathToFileURL(requireFromRepo.resolve(spec)).href);
const { Client } = await importFromRepo('@modelcontextprotocol/client');
const { StdioClientTransport } = await importFromRepo('@modelcontextprotocol/client/stdio');

const PG_URL = 'postgresql://127.0.0.1:5432/test';
const REDIS_URL = 'redis://127.0.0.1:6379';
// A dummy Google OAuth client ("installed app"), for servers that read one at start-up.
const GOOGLE_OAUTH_KEYS =
  JSON.stringify({
    installed: {
      client_id: 'dummy.apps.googleusercontent.com',
      client_secret: 'dummy',
      redirect_uris: ['http://localhost'],
      auth_uri: 'https://accounts.google.com/o/oauth2/auth',
      token_uri: 'https://oauth2.googleapis.com/token',
    },
  }) + '\n';

// name: short server name (^[a-z0-9_-]+$, no "__"), as tools are addressed "server__tool".
// shim: a file from SHIMS, preloaded with node --require.
// extraDeps: packages installed next to it (only to repair a broken published tree).
// bin: which entry of the package's "bin" to run (default: the only/first one).
// args/env: what the server needs to start; credentials are dummies.
// files: dummy credential files (path under .cache: content) written before it starts.
// loopback: needs 127.0.0.1 (a real backend), so no network namespace.
const SERVERS = [
  // --- the MCP reference servers ---
  { name: 'filesystem', package: '@modelcontextprotocol/server-filesystem', version: '2026.8.31', args: [SANDBOX] },
  {
    name: 'memory',
    package: '@modelcontextprotocol/server-memory',
    version: '2026.8.31',
    env: { MEMORY_FILE_PATH: path.join(SANDBOX, 'memory.jsonl') },
  },
  { name: 'github', package: '@modelcontextprotocol/server-github', version: '2025.4.8', env: { GITHUB_PERSONAL_ACCESS_TOKEN: 'dummy' } },
  // server-gitlab imports zod without declaring it; installed alone, the zod it finds is the
  // v4 that npm adds as zod-to-json-schema's peer, every inputSchema then comes out without
  // "type": "object" and the client rejects tools/list. zod 3 (what its SDK 1.0.1 uses) at
  // the top of its tree restores the schemas it was built with.
  {
    name: 'gitlab',
    package: '@modelcontextprotocol/server-gitlab',
    version: '2025.4.25',
    extraDeps: ['zod@3.25.76'],
    env: { GITLAB_PERSONAL_ACCESS_TOKEN: 'dummy', GITLAB_API_URL: 'http://127.0.0.1:9/api/v4' },
  },
  {
    name: 'slack',
    package: '@modelcontextprotocol/server-slack',
    version: '2025.4.25',
    env: { SLACK_BOT_TOKEN: 'xoxb-dummy', SLACK_TEAM_ID: 'T00000000' },
  },
  { name: 'postgres', package: '@modelcontextprotocol/server-postgres', version: '0.6.2', args: [PG_URL], loopback: true },
  { name: 'puppeteer', package: '@modelcontextprotocol/server-puppeteer', version: '2025.5.12' },
  { name: 'google-maps', package: '@modelcontextprotocol/server-google-maps', version: '0.6.2', env: { GOOGLE_MAPS_API_KEY: 'dummy' } },
  { name: 'everything', package: '@modelcontextprotocol/server-everything', version: '2026.8.31', args: ['stdio'] },
  { name: 'sequential-thinking', package: '@modelcontextprotocol/server-sequential-thinking', version: '2026.8.31' },
  { name: 'brave-search', package: '@modelcontextprotocol/server-brave-search', version: '0.6.2', env: { BRAVE_API_KEY: 'dummy' } },
  { name: 'redis', package: '@modelcontextprotocol/server-redis', version: '2025.4.25', args: [REDIS_URL], loopback: true },
  // published as "server-aws-kb-retrieval" (the "-server" suffix is only the repo folder's name)
  {
    name: 'aws-kb-retrieval',
    package: '@modelcontextprotocol/server-aws-kb-retrieval',
    version: '0.6.2',
    env: { AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'dummy', AWS_SECRET_ACCESS_KEY: 'dummy' },
  },
  { name: 'everart', package: '@modelcontextprotocol/server-everart', version: '0.6.2', env: { EVERART_API_KEY: 'dummy' } },
  // --- popular third-party servers ---
  { name: 'playwright', package: '@playwright/mcp', version: '0.0.83' },
  { name: 'notion', package: '@notionhq/notion-mcp-server', version: '2.5.2', env: { NOTION_TOKEN: 'ntn_dummy' } },
  {
    name: 'chrome-devtools',
    package: 'chrome-devtools-mcp',
    version: '1.11.0',
    bin: 'chrome-devtools-mcp',
    args: ['--no-usage-statistics'],
    env: { CHROME_DEVTOOLS_MCP_NO_USAGE_STATISTICS: '1' },
  },
  // desktop-commander writes what it detects about the host into some descriptions
  // (start_process, read_file, ...); in a container that includes the container's mount
  // points. The no-container shim makes it describe a plain host, so the catalog doesn't
  // carry the harvesting machine's mounts. The OS part (Linux/macOS/Windows) still follows
  // the host.
  {
    name: 'desktop-commander',
    package: '@wonderwhy-er/desktop-commander',
    version: '0.2.52',
    bin: 'desktop-commander',
    args: ['--no-onboarding'],
    shim: 'no-container',
  },
  { name: 'kubernetes', package: 'mcp-server-kubernetes', version: '4.1.7' },
  // The default feature set minus "docs": search_docs builds its description from a
  // GraphQL schema fetched from supabase.com, which tools/list can't do offline.
  {
    name: 'supabase',
    package: '@supabase/mcp-server-supabase',
    version: '0.13.0',
    args: ['--features', 'account,database,debugging,development,functions,branching'],
    env: { SUPABASE_ACCESS_TOKEN: 'sbp_dummy' },
  },
  { name: 'firecrawl', package: 'firecrawl-mcp', version: '3.26.0', env: { FIRECRAWL_API_KEY: 'fc-dummy' } },
  { name: 'airtable', package: 'airtable-mcp-server', version: '1.14.0', env: { AIRTABLE_API_KEY: 'patdummy' } },
  { name: 'tavily', package: 'tavily-mcp', version: '0.2.22', env: { TAVILY_API_KEY: 'tvly-dummy' } },
  { name: 'exa', package: 'exa-mcp-server', version: '3.4.1', env: { EXA_API_KEY: 'dummy' } },
  { name: 'context7', package: '@upstash/context7-mcp', version: '4.1.1' },
  { name: 'circleci', package: '@circleci/mcp-server-circleci', version: '0.20.0', env: { CIRCLECI_TOKEN: 'dummy' } },
  { name: 'ea-playwright', package: '@executeautomation/playwright-mcp-server', version: '1.0.12' },
  { name: 'mongodb', package: 'mongodb-mcp-server', version: '3.0.4', env: { MDB_MCP_TELEMETRY: 'disabled' } },
  // --- calendars, mail, time, weather ---
  // Both Google servers insist on an OAuth client file at start-up (never used to list
  // tools): files: writes a dummy one.
  {
    name: 'google-calendar',
    package: '@cocal/google-calendar-mcp',
    version: '2.6.3',
    files: { 'credentials/google-calendar.keys.json': GOOGLE_OAUTH_KEYS },
    env: { GOOGLE_OAUTH_CREDENTIALS: path.join(CACHE, 'credentials', 'google-calendar.keys.json') },
  },
  {
    name: 'gmail',
    package: '@gongrzhe/server-gmail-autoauth-mcp',
    version: '1.1.11',
    files: { 'credentials/gmail.keys.json': GOOGLE_OAUTH_KEYS },
    // the token file doesn't exist, so the server starts unauthenticated
    env: {
      GMAIL_OAUTH_PATH: path.join(CACHE, 'credentials', 'gmail.keys.json'),
      GMAIL_CREDENTIALS_PATH: path.join(CACHE, 'credentials', 'gmail-token.json'),
    },
  },
  // IMAP/SMTP mail; it refuses to start without an account (a dummy one on 127.0.0.1, where
  // nothing listens, least of all inside the empty network namespace).
  {
    name: 'email',
    package: '@codefuturist/email-mcp',
    version: '0.2.0',
    env: {
      MCP_EMAIL_ADDRESS: 'dummy@example.com',
      MCP_EMAIL_PASSWORD: 'dummy',
      MCP_EMAIL_IMAP_HOST: '127.0.0.1',
      MCP_EMAIL_SMTP_HOST: '127.0.0.1',
    },
  },
  { name: 'time', package: 'time-mcp', version: '1.0.6' },
  { name: 'weather', package: '@dangahagan/weather-mcp', version: '1.23.0' },
  // --- spreadsheets, design ---
  // The service-account file doesn't exist: it is only read when a tool runs.
  {
    name: 'google-sheets',
    package: 'mcp-gsheets',
    version: '1.10.3',
    env: { GOOGLE_PROJECT_ID: 'dummy', GOOGLE_APPLICATION_CREDENTIALS: path.join(CACHE, 'credentials', 'service-account.json') },
  },
  // A Go binary shipped in the npm package (one per platform, picked by its launcher).
  { name: 'excel', package: '@negokaz/excel-mcp-server', version: '0.12.0' },
  // download_figma_images puts its image directory (default: the cwd) into its description;
  // a fixed, made-up one keeps the harvesting machine's paths out of the catalog.
  {
    name: 'figma',
    package: 'figma-developer-mcp',
    version: '0.13.2',
    args: ['--stdio', '--figma-api-key=dummy', '--image-dir=/home/user/project'],
  },
  // --- task and project management ---
  { name: 'todoist', package: '@doist/todoist-mcp', version: '11.0.0', env: { TODOIST_API_KEY: 'dummy' } },
  { name: 'asana', package: '@roychri/mcp-server-asana', version: '1.8.0', env: { ASANA_ACCESS_TOKEN: 'dummy' } },
  // Its engines field asks for Bun, but the published build runs on Node.
  { name: 'trello', package: '@delorenj/mcp-server-trello', version: '1.8.1', env: { TRELLO_API_KEY: 'dummy', TRELLO_TOKEN: 'dummy' } },
  {
    name: 'linear',
    package: 'mcp-server-linear',
    version: '1.6.0',
    env: { LINEAR_API_KEY: 'lin_api_dummy', LINEAR_ACCESS_TOKEN: 'lin_api_dummy' },
  },
  {
    name: 'jira',
    package: '@aashari/mcp-server-atlassian-jira',
    version: '3.3.0',
    env: { ATLASSIAN_SITE_NAME: 'dummy', ATLASSIAN_USER_EMAIL: 'dummy@example.com', ATLASSIAN_API_TOKEN: 'dummy' },
  },
  // --- payments, CRM, monitoring, chat, cloud ---
  // 0.2.5, not the newer 0.3.x: from 0.3 on the package is only a proxy to Stripe's remote
  // MCP server and can't list tools offline; 0.2.5 serves @stripe/agent-toolkit's tools itself.
  { name: 'stripe', package: '@stripe/mcp', version: '0.2.5', args: ['--tools=all', '--api-key=sk_test_dummy'] },
  { name: 'hubspot', package: '@hubspot/mcp-server', version: '0.4.0', env: { PRIVATE_APP_ACCESS_TOKEN: 'pat-dummy' } },
  { name: 'sentry', package: '@sentry/mcp-server', version: '0.39.0', args: ['--access-token=dummy'] },
  { name: 'discord', package: 'mcp-server-discord', version: '1.2.8', env: { DISCORD_TOKEN: 'dummy' } },
  // Reads its token from wrangler's login file and dies without one: files: writes a
  // dummy one that doesn't expire (an expired one would be refreshed over the network).
  {
    name: 'cloudflare',
    package: '@cloudflare/mcp-server-cloudflare',
    version: '0.2.0',
    args: ['run', '00000000000000000000000000000000'],
    files: { 'home/.config/.wrangler/config/default.toml': 'oauth_token = "dummy"\nexpiration_time = "2099-01-01T00:00:00.000Z"\n' },
  },
];

// Heroku (@heroku/mcp-server@1.2.8) is not in the list: its dist imports
// '@modelcontextprotocol/sdk/server/mcp' without the .js extension, which
// Node's ESM resolver rejects, so it dies at start-up ("Cannot find module").
//
// Tried and left out as well:
// - obsidian-mcp@1.0.6 (and 2.x, which needs Node 22): refuses any vault path with a hidden
//   directory in it (.cache) or under /tmp, so it can't be pointed at the sandbox.
// - @mondaydotcomorg/monday-api-mcp@3.3.0 lists fine (92 tools) but would be a sixth task
//   tracker and the biggest server here; @tacticlaunch/mcp-linear@1.4.3 likewise (198 tools;
//   mcp-server-linear is the Linear server here).

// Every pinned version above was published before this date (the newest,
// chrome-devtools-mcp@1.11.0, on 2026-10-15).
const NPM_BEFORE = '2026-11-01T00:00:00.000Z';

// Preloads (node --require) that only change what a server can sense of the host.
const SHIMS = {
  'no-container': `'use strict';
// Hide the signs of a container (/.dockerenv, container cgroups, mount table).
const fs = require('node:fs');
const hidden = new Set(['/.dockerenv', '/run/.containerenv']);
const blank = new Set(['/proc/1/cgroup', '/proc/1/environ', '/proc/mounts', '/proc/self/mountinfo']);
const existsSync = fs.existsSync;
fs.existsSync = function (p) { return hidden.has(String(p)) ? false : existsSync.apply(this, arguments); };
const readFileSync = fs.readFileSync;
fs.readFileSync = function (p, o) {
  if (blank.has(String(p))) return (typeof o === 'string' || (o && o.encoding)) ? '' : Buffer.alloc(0);
  return readFileSync.apply(this, arguments);
};
for (const k of ['KUBERNETES_SERVICE_HOST', 'KUBERNETES_PORT', 'MCP_CLIENT_DOCKER', 'PODMAN_CONTAINER', 'CONTAINER_HOST']) delete process.env[k];
`,
};

const START_TIMEOUT_MS = 60_000;
const LIST_TIMEOUT_MS = 60_000;
const TOOL_KEYS = ['name', 'title', 'description', 'inputSchema', 'outputSchema', 'annotations'];

const DOWNLOAD_ENV = {
  PUPPETEER_SKIP_DOWNLOAD: '1',
  PUPPETEER_SKIP_CHROMIUM_DOWNLOAD: '1',
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: '1',
};

// An environment that doesn't depend on who runs the script: no inherited
// secrets, no real HOME, no telemetry, no browser downloads.
const BASE_ENV = {
  PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
  HOME,
  USERPROFILE: HOME,
  XDG_CONFIG_HOME: path.join(HOME, '.config'),
  XDG_CACHE_HOME: path.join(HOME, '.cache'),
  XDG_DATA_HOME: path.join(HOME, '.local', 'share'),
  TMPDIR: path.join(CACHE, 'tmp'),
  LANG: 'C.UTF-8',
  TZ: 'UTC',
  NODE_ENV: 'production',
  NO_COLOR: '1',
  CI: '1',
  DO_NOT_TRACK: '1',
  DISABLE_TELEMETRY: '1',
  TELEMETRY_DISABLED: '1',
  NO_UPDATE_NOTIFIER: '1',
  NPM_CONFIG_UPDATE_NOTIFIER: 'false',
  ...DOWNLOAD_ENV,
};

function parseArgs(argv) {
  const opts = { only: null, install: true };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--only') opts.only = new Set(argv[++i].split(','));
    else if (argv[i] === '--no-install') opts.install = false;
    else throw new Error(`unknown argument ${argv[i]}`);
  }
  return opts;
}

// Each server gets its own install prefix, .cache/servers/<name>/, the way
// `npx <package>` would install it alone. One shared tree is not good enough:
// hoisting can hand a server another copy of zod than its MCP SDK uses, and
// then the parameter descriptions silently vanish from its inputSchema.
function prefixOf(server) {
  return path.join(CACHE, 'servers', server.name);
}

function pkgDir(server) {
  return path.join(prefixOf(server), 'node_modules', ...server.package.split('/'));
}

function installedVersion(server) {
  try {
    return JSON.parse(readFileSync(path.join(pkgDir(server), 'package.json'), 'utf8')).version;
  } catch {
    return null;
  }
}

function install(servers) {
  const missing = servers.filter((s) => installedVersion(s) !== s.version);
  if (missing.length === 0) {
    console.error(`[install] all ${servers.length} packages already in ${path.relative(REPO, CACHE)}`);
    return;
  }
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  for (const s of missing) {
    const prefix = prefixOf(s);
    console.error(`[install] ${s.package}@${s.version} -> ${path.relative(REPO, prefix)}`);
    mkdirSync(prefix, { recursive: true });
    // --before pins the transitive dependencies to what the registry held on
    // that date, so a fresh install years later resolves the same tree.
    const r = spawnSync(
      npm,
      [
        'install',
        '--prefix',
        prefix,
        '--no-audit',
        '--no-fund',
        '--save-exact',
        '--ignore-scripts',
        `--before=${NPM_BEFORE}`,
        '--loglevel=error',
        `${s.package}@${s.version}`,
        ...(s.extraDeps ?? []),
      ],
      { stdio: 'inherit', env: { ...process.env, ...DOWNLOAD_ENV } },
    );
    if (r.status !== 0) throw new Error(`npm install ${s.package}@${s.version} failed (exit ${r.status})`);
  }
}

function shimPath(name) {
  if (!(name in SHIMS)) throw new Error(`unknown shim ${name}`);
  const file = path.join(CACHE, 'shims', `${name}.cjs`);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, SHIMS[name]);
  return file;
}

function binPath(server) {
  const dir = pkgDir(server);
  const pj = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'));
  let rel;
  if (typeof pj.bin === 'string') rel = pj.bin;
  else if (pj.bin && server.bin) rel = pj.bin[server.bin];
  else if (pj.bin) rel = Object.values(pj.bin)[0];
  if (!rel) throw new Error(`${server.package}: no bin entry${server.bin ? ` "${server.bin}"` : ''}`);
  return path.join(dir, rel);
}

// How to keep a server off the network: an empty network namespace.
function detectIsolation() {
  if (process.platform !== 'linux') return null;
  for (const flags of [['-n'], ['-r', '-n']]) {
    const r = spawnSync('unshare', [...flags, 'true'], { stdio: 'ignore' });
    if (r.status === 0) return flags;
  }
  return null;
}

// Linux: every descendant of pid, read from /proc (so grandchildren such as
// a browser or a helper CLI can be killed too).
function descendants(pid) {
  if (process.platform !== 'linux' || !pid) return [];
  const children = new Map();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid).push(Number(entry));
    } catch {
      // process went away while we looked
    }
  }
  const out = [];
  const stack = [pid];
  while (stack.length) {
    for (const c of children.get(stack.pop()) ?? []) {
      out.push(c);
      stack.push(c);
    }
  }
  return out;
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function killAll(pids) {
  const left = pids.filter(alive);
  for (const p of left)
    try {
      process.kill(p, 'SIGTERM');
    } catch {
      /* already gone */
    }
  for (let i = 0; i < 20 && left.some(alive); i++) await sleep(100);
  for (const p of left.filter(alive))
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      /* already gone */
    }
  for (let i = 0; i < 20 && left.some(alive); i++) await sleep(50);
  return left.filter(alive);
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms / 1000}s`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

// Only the tool-definition keys, in a fixed order; everything inside them
// (schemas, annotations) is kept exactly as the server sent it.
function pickTool(tool) {
  const out = {};
  for (const k of TOOL_KEYS) if (tool[k] !== undefined) out[k] = tool[k];
  return out;
}

async function harvest(server, isolation) {
  for (const [rel, content] of Object.entries(server.files ?? {})) {
    const file = path.join(CACHE, rel);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, content);
  }
  const script = binPath(server);
  const preload = server.shim ? ['--require', shimPath(server.shim)] : [];
  const nodeArgs = [...preload, script, ...(server.args ?? [])];
  const useNs = isolation && !server.loopback;
  const transport = new StdioClientTransport({
    command: useNs ? 'unshare' : process.execPath,
    args: useNs ? [...isolation, process.execPath, ...nodeArgs] : nodeArgs,
    env: { ...BASE_ENV, ...(server.env ?? {}) },
    cwd: SANDBOX,
    stderr: 'pipe',
  });
  let stderr = '';
  transport.stderr?.on('data', (d) => {
    stderr += d.toString();
    if (stderr.length > 20_000) stderr = stderr.slice(-10_000);
  });
  const client = new Client({ name: 'nexus-search-bench-harvest', version: '0.1.0' });
  let pid = null;
  try {
    await withTimeout(client.connect(transport), START_TIMEOUT_MS, 'connect');
    pid = transport.pid;
    const { tools } = await withTimeout(client.listTools(), LIST_TIMEOUT_MS, 'tools/list');
    if (!Array.isArray(tools) || tools.length === 0) throw new Error('server listed no tools');
    return tools.map(pickTool);
  } catch (err) {
    const tail = stderr.trim().split('\n').slice(-8).join('\n');
    err.message += tail ? `\n    stderr: ${tail.replace(/\n/g, '\n            ')}` : '';
    throw err;
  } finally {
    pid ??= transport.pid;
    const tree = pid ? [pid, ...descendants(pid)] : [];
    await client.close().catch(() => {});
    const survivors = await killAll(tree);
    if (survivors.length) console.error(`[${server.name}] could not kill pid(s) ${survivors.join(', ')}`);
  }
}

function checkName(name) {
  if (!/^[a-z0-9_-]+$/.test(name) || name.includes('__')) throw new Error(`bad server name ${name}`);
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const names = new Set();
  for (const s of SERVERS) {
    checkName(s.name);
    if (names.has(s.name)) throw new Error(`duplicate server name ${s.name}`);
    names.add(s.name);
  }
  const selected = opts.only ? SERVERS.filter((s) => opts.only.has(s.name)) : SERVERS;
  for (const d of [SANDBOX, HOME, BASE_ENV.TMPDIR]) mkdirSync(d, { recursive: true });
  if (!existsSync(path.join(SANDBOX, 'README.md'))) writeFileSync(path.join(SANDBOX, 'README.md'), 'sandbox for harvest.mjs\n');
  if (opts.install) install(SERVERS);

  const isolation = detectIsolation();
  console.error(
    isolation
      ? `[net] servers without a backend run under: unshare ${isolation.join(' ')}`
      : '[net] unshare not available: servers run with the normal network',
  );

  const results = [];
  const failures = [];
  for (const s of selected) {
    const t0 = Date.now();
    try {
      const tools = await harvest(s, isolation);
      const dup = tools.map((t) => t.name).find((n, i, a) => a.indexOf(n) !== i);
      if (dup) throw new Error(`duplicate tool name ${dup}`);
      results.push({ name: s.name, package: s.package, version: s.version, tools });
      console.error(`[ok]   ${s.name.padEnd(20)} ${String(tools.length).padStart(3)} tools  (${Date.now() - t0} ms)`);
    } catch (err) {
      failures.push({ name: s.name, error: err.message });
      console.error(`[FAIL] ${s.name.padEnd(20)} ${err.message}`);
    }
  }

  results.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const total = results.reduce((n, s) => n + s.tools.length, 0);
  console.error(
    `\n${results.length} servers, ${total} tools; ${failures.length} failed${failures.length ? ': ' + failures.map((f) => f.name).join(', ') : ''}`,
  );

  if (opts.only) {
    for (const s of results) for (const t of s.tools) console.log(`${s.name}__${t.name}`);
    return;
  }
  writeFileSync(OUT, JSON.stringify({ servers: results }, null, 2) + '\n');
  console.error(`wrote ${path.relative(REPO, OUT)}`);
  if (failures.length) process.exitCode = 1;
}

await main();
