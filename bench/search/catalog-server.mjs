// Serves one server of catalog.json over stdio, its tools exactly as harvested:
//   node bench/search/catalog-server.mjs <server-name> [catalog.json]
// tools/list is paginated (50 a page) like real servers; tools/call only says which tool ran.
// CATALOG_REPEAT=n serves the server's tools n times (names suffixed _2, _3, ...), for scale runs.
// CATALOG_TOOLS=n serves n tools drawn in turn from the whole catalog (names suffixed _1, _2, ...),
// so a scale run can have any number of servers of any size.
import { readFileSync } from 'node:fs';
import { ProtocolError, Server } from '@modelcontextprotocol/server';
import { StdioServerTransport } from '@modelcontextprotocol/server/stdio';

const [name, catalogPath = new URL('./catalog.json', import.meta.url)] = process.argv.slice(2);
const catalog = JSON.parse(readFileSync(catalogPath, 'utf8'));
const entry = catalog.servers.find((server) => server.name === name);
if (!entry) {
  process.stderr.write(`no server ${name} in the catalog\n`);
  process.exit(1);
}
const PAGE = 50;
const repeat = Number(process.env.CATALOG_REPEAT ?? 1);
const allTools = catalog.servers.flatMap((server) => server.tools);
entry.tools = process.env.CATALOG_TOOLS
  ? Array.from({ length: Number(process.env.CATALOG_TOOLS) }, (_, i) => {
      const tool = allTools[i % allTools.length];
      return { ...tool, name: `${tool.name}_${i + 1}` };
    })
  : Array.from({ length: repeat }, (_, copy) =>
      entry.tools.map((tool) => (copy === 0 ? tool : { ...tool, name: `${tool.name}_${copy + 1}` })),
    ).flat();
const server = new Server({ name: entry.name, version: entry.version }, { capabilities: { tools: {} } });
server.setRequestHandler('tools/list', (request) => {
  const start = Number(request.params?.cursor ?? 0);
  const next = start + PAGE < entry.tools.length ? String(start + PAGE) : undefined;
  return { tools: entry.tools.slice(start, start + PAGE), ...(next ? { nextCursor: next } : {}) };
});
server.setRequestHandler('tools/call', (request) => {
  if (!entry.tools.some((tool) => tool.name === request.params.name)) {
    throw new ProtocolError(-32602, `no tool ${request.params.name}`);
  }
  return { content: [{ type: 'text', text: `${entry.name}__${request.params.name} ran` }] };
});
await server.connect(new StdioServerTransport());
