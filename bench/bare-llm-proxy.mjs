// The floor for an LLM gateway hop: every request piped to one upstream origin and its answer piped
// back, headers and all, nothing read or checked. For the benchmark only.
// UPSTREAM=<origin> node bare-llm-proxy.mjs <port>   (port 0: any, reported as "listening on <port>")
import { createServer, request } from 'node:http';

const upstream = new URL(process.env.UPSTREAM);
const agent = new (await import('node:http')).Agent({ keepAlive: true });
const server = createServer((req, res) => {
  const out = request(
    {
      host: upstream.hostname,
      port: upstream.port,
      path: req.url,
      method: req.method,
      headers: { ...req.headers, host: upstream.host },
      agent,
    },
    (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    },
  );
  out.on('error', () => res.writeHead(502).end());
  req.pipe(out);
});
server.listen(Number(process.argv[2]), '127.0.0.1', () => console.error(`listening on ${server.address().port}`));
