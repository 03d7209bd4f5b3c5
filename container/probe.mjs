// Checks a running nexus the way a client would: search, then execute on a stdio server and on an
// HTTP one. node container/probe.mjs <nexus url>; prints one line per check, exits 1 on a failure.
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';

const client = new Client({ name: 'container-probe', version: '1.0.0' });
await client.connect(new StreamableHTTPClientTransport(new URL(`${process.argv[2]}/mcp`)));
const text = (result) => result.content?.find((block) => block.type === 'text')?.text ?? '';
let failed = 0;
const check = (name, ok, detail) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}${ok ? '' : `: ${detail}`}`);
  if (!ok) failed++;
};
const found = text(await client.callTool({ name: 'search', arguments: { keywords: ['echo'] } }));
check('search finds the stdio server’s echo', found.includes('everything__echo'), found.slice(0, 200));
const stdio = text(
  await client.callTool({ name: 'execute', arguments: { name: 'everything__echo', arguments: { message: 'from a container' } } }),
);
check('execute on the stdio server (started with npx)', stdio.includes('from a container'), stdio);
const http = text(await client.callTool({ name: 'execute', arguments: { name: 'remote__echo', arguments: { message: 'over http' } } }));
check('execute on the HTTP server', http.includes('over http'), http);
await client.close();
process.exit(failed > 0 ? 1 : 0);
