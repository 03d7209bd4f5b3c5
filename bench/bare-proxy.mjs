// The floor for a gateway hop: the least a Node process can do to pass `execute` calls on to one
// streamable-HTTP server. No auth, no validation, no search, no errors handled; for the
// benchmark only. node bare-proxy.mjs <port> <server url>
import { createServer } from 'node:http';
import { Pool } from 'undici';

const [port, target] = [Number(process.argv[2]), new URL(process.argv[3])];
const pool = new Pool(target.origin);
let session;
let nextId = 1;

async function post(message) {
  const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
  if (session) Object.assign(headers, { 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25' });
  const response = await pool.request({ path: target.pathname, method: 'POST', headers, body: JSON.stringify(message) });
  session = response.headers['mcp-session-id'] ?? session;
  const text = await response.body.text();
  if (!String(response.headers['content-type']).includes('event-stream')) return text ? JSON.parse(text) : undefined;
  const data = text.split('\n').filter((line) => line.startsWith('data:') && line.length > 6);
  return JSON.parse(data[data.length - 1].slice(5));
}

await post({
  jsonrpc: '2.0',
  id: 0,
  method: 'initialize',
  params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'bare', version: '1' } },
});
await post({ jsonrpc: '2.0', method: 'notifications/initialized' });

const reply = (res, status, message, headers = {}) => {
  const body = message === undefined ? '' : JSON.stringify(message);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers }).end(body);
};

createServer((req, res) => {
  let body = '';
  req.on('data', (chunk) => (body += chunk));
  req.on('end', async () => {
    if (req.method !== 'POST') return reply(res, 405);
    const message = JSON.parse(body);
    if (message.method === 'initialize') {
      const result = {
        protocolVersion: message.params.protocolVersion,
        capabilities: { tools: {} },
        serverInfo: { name: 'bare', version: '1' },
      };
      return reply(res, 200, { jsonrpc: '2.0', id: message.id, result }, { 'mcp-session-id': 'bare' });
    }
    if (message.method !== 'tools/call') return reply(res, 202);
    const { name, arguments: args } = message.params.arguments;
    const answer = await post({
      jsonrpc: '2.0',
      id: nextId++,
      method: 'tools/call',
      params: { name: name.split('__')[1], arguments: args },
    });
    reply(res, 200, { jsonrpc: '2.0', id: message.id, result: answer.result });
  });
}).listen(port, '127.0.0.1', () => process.stderr.write(`bare proxy listening on ${port}\n`));
