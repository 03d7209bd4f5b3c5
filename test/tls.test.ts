/**
 * TLS both ways with real certificates: nexus serving HTTPS, and downstreams over HTTPS (streamable
 * HTTP and SSE) with a private CA, verification switched off, a wrong host name, and mutual TLS.
 */
import { request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, createServer as createHttpsServer, request as httpsRequest, type Server as HttpsServer } from 'node:https';
import { connect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { readFileSync } from 'node:fs';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { parse } from 'smol-toml';
import { Agent, fetch as undiciFetch } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load.js';
import { silentLogger } from '../src/log.js';
import { startNexus, StartupError, type RunningNexus } from '../src/server.js';
import { makeCerts, type TestCerts } from './helpers/certs.js';
import { firstText, servingSomething, startTestNexus } from './helpers/nexus.js';
import { bigAnswerRequest, FIXTURE_SERVER, startEverything, startFixtureHttp, type Spawned } from './helpers/processes.js';

let certs: TestCerts;
const started: Spawned[] = [];
const running: RunningNexus[] = [];

beforeAll(() => {
  certs = makeCerts();
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((nexus) => nexus.close()));
});
afterAll(async () => {
  await Promise.all(started.map((server) => server.kill()));
});

async function fixtureOverTls(cert: { cert: string; key: string }, clientCa?: string): Promise<string> {
  const env: NodeJS.ProcessEnv = { FIXTURE_TLS_CERT: cert.cert, FIXTURE_TLS_KEY: cert.key };
  if (clientCa) env['FIXTURE_TLS_CA'] = clientCa;
  const fixture = await startFixtureHttp(env, 'https');
  started.push(fixture);
  return fixture.url;
}

async function nexusFor(toml: string): Promise<RunningNexus> {
  const nexus = await startTestNexus(toml);
  running.push(nexus);
  return nexus;
}

/** One remote server's table; `tls` is the inline TLS table's body (empty: no TLS settings). */
function remote(name: string, url: string, tls = '', protocol = 'streamable-http'): string {
  return `[mcp.servers.${name}]\nurl = "${url}"\nprotocol = "${protocol}"\n${tls ? `tls = { ${tls} }\n` : ''}`;
}

function state(nexus: RunningNexus, server = 'secure') {
  return nexus.registry.get(server)?.state;
}

describe('nexus serving HTTPS', () => {
  it('serves health and MCP over TLS with the configured certificate', async () => {
    const fixture = await fixtureOverTls(certs.server);
    const config = parseConfig(
      parse(`
        [server.tls]
        certificate = "${certs.server.cert}"
        key = "${certs.server.key}"
        [mcp.servers.secure]
        url = "${fixture}"
        protocol = "streamable-http"
        tls = { root_ca_cert_path = "${certs.ca.cert}" }
      `),
      'test.toml',
    );
    const nexus = await startNexus(config, { logger: silentLogger, listenAddress: { host: '127.0.0.1', port: 0 } });
    running.push(nexus);
    await nexus.ready;
    expect(nexus.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const agent = new Agent({ connect: { ca: readFileSync(certs.ca.cert) } });
    const trusting = ((url: string | URL, init?: RequestInit) =>
      undiciFetch(url, { ...(init as object), dispatcher: agent })) as unknown as typeof fetch;
    expect(await (await trusting(`${nexus.url}/health`)).json()).toEqual({ status: 'healthy' });
    const client = new Client({ name: 'tls', version: '1' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${nexus.url}/mcp`), { fetch: trusting }));
    const result = await client.callTool({ name: 'execute', arguments: { name: 'secure__add_numbers', arguments: { a: 20, b: 22 } } });
    expect(firstText(result)).toBe('42');
    await client.close();
    await agent.close();
    await expect(fetch(`${nexus.url}/health`)).rejects.toThrow(); // an untrusting client refuses the certificate
  });

  it('names the key when the certificate cannot be read', async () => {
    const toml = `[server.tls]\ncertificate = "/nonexistent/cert.pem"\nkey = "${certs.server.key}"`;
    const config = parseConfig(parse(servingSomething(toml)), 'test.toml');
    const error = await startNexus(config, { logger: silentLogger, listenAddress: { host: '127.0.0.1', port: 0 } }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(StartupError);
    expect((error as StartupError).source).toBe('server.tls.certificate');
    expect((error as StartupError).message).toBe('cannot read /nonexistent/cert.pem (ENOENT)');
  });
});

describe('connection limits over HTTPS', () => {
  const tlsNexus = (limits: string) =>
    nexusFor(`[server.tls]\ncertificate = "${certs.server.cert}"\nkey = "${certs.server.key}"\n[server.limits]\n${limits}`);

  /** GET /health over TLS from `from`: the status, or the error's code. */
  const health = (nexus: RunningNexus, from: string, agent: false | HttpsAgent = false) =>
    new Promise<number | string>((resolve) => {
      const { port } = new URL(nexus.url);
      const options = { host: '127.0.0.1', port, path: '/health', localAddress: from, ca: readFileSync(certs.ca.cert), agent };
      const req = httpsRequest(options, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
      req.end();
    });

  it('refuses a connection over max_connections_per_ip before its handshake, and only that one', async () => {
    const nexus = await tlsNexus('max_connections_per_ip = 2');
    // Two connections held open (keep-alive) by one address.
    const held = new HttpsAgent({ keepAlive: true, maxSockets: 2, ca: readFileSync(certs.ca.cert) });
    expect(await Promise.all([health(nexus, '127.0.0.1', held), health(nexus, '127.0.0.1', held)])).toEqual([200, 200]);
    expect(await health(nexus, '127.0.0.1')).toBe('ECONNRESET');
    expect(await health(nexus, '127.0.0.2')).toBe(200);
    held.destroy();
  });

  it('drops an answer the client does not read after send_timeout, over TLS too', async () => {
    const nexus = await nexusFor(
      `[server.tls]\ncertificate = "${certs.server.cert}"\nkey = "${certs.server.key}"\n[server.limits]\nsend_timeout = "1s"\n` +
        `[mcp.servers.fixture]\ncmd = ["node", "${FIXTURE_SERVER}", "stdio"]`,
    );
    const socket = tlsConnect({
      host: '127.0.0.1',
      port: Number(new URL(nexus.url).port),
      ca: readFileSync(certs.ca.cert),
      servername: 'localhost',
    });
    await new Promise((resolve) => socket.once('secureConnect', resolve));
    let received = 0;
    socket.on('data', (chunk: Buffer) => (received += chunk.length));
    const closed = new Promise((resolve) => socket.once('close', resolve));
    socket.pause(); // read nothing for a while
    socket.write(bigAnswerRequest(20_000_000));
    await new Promise((resolve) => setTimeout(resolve, 4_000));
    socket.resume();
    await closed;
    expect(received).toBeGreaterThan(0);
    expect(received).toBeLessThan(20_000_000);
  });

  it('closes a connection that never starts its TLS handshake after read_header_timeout', async () => {
    const nexus = await tlsNexus('read_header_timeout = "300ms"\nread_timeout = "5s"');
    const socket = connect(Number(new URL(nexus.url).port), '127.0.0.1');
    socket.on('error', () => undefined);
    const started = performance.now();
    await new Promise((resolve) => socket.once('close', resolve));
    expect(performance.now() - started).toBeLessThan(2_000);
  });
});

describe('downstreams over TLS', () => {
  it('trusts a server signed by root_ca_cert_path, and refuses it without', async () => {
    const url = await fixtureOverTls(certs.server);
    const trusted = await nexusFor(remote('secure', url, `root_ca_cert_path = "${certs.ca.cert}"`) + remote('untrusted', url));
    expect(state(trusted)).toEqual({ status: 'ready' });
    expect(state(trusted, 'untrusted')).toMatchObject({
      status: expect.stringMatching(/failed|connecting/),
      reason: expect.stringMatching(/certificate/i),
    });
  });

  it('accepts any certificate with verify_certs = false', async () => {
    const url = await fixtureOverTls(certs.selfSigned);
    const nexus = await nexusFor(remote('secure', url, 'verify_certs = false'));
    expect(state(nexus)).toEqual({ status: 'ready' });
  });

  it('refuses a certificate for another host name unless accept_invalid_hostnames is set', async () => {
    const url = await fixtureOverTls(certs.wrongHost);
    const ca = `root_ca_cert_path = "${certs.ca.cert}"`;
    const nexus = await nexusFor(remote('strict', url, ca) + remote('secure', url, `${ca}, accept_invalid_hostnames = true`));
    expect(state(nexus, 'strict')).toMatchObject({
      status: expect.stringMatching(/failed|connecting/),
      reason: expect.stringMatching(/altnames|hostname|IP/i),
    });
    expect(state(nexus)).toEqual({ status: 'ready' });
  });

  it('presents a client certificate for mutual TLS', async () => {
    const url = await fixtureOverTls(certs.server, certs.ca.cert);
    const ca = `root_ca_cert_path = "${certs.ca.cert}"`;
    const clientCert = `client_cert_path = "${certs.client.cert}", client_key_path = "${certs.client.key}"`;
    const nexus = await nexusFor(remote('anonymous', url, ca) + remote('secure', url, `${ca}, ${clientCert}`));
    expect(state(nexus, 'anonymous')?.status).toMatch(/failed|connecting/);
    expect(state(nexus)).toEqual({ status: 'ready' });
  });

  it('applies the TLS settings to SSE servers too', async () => {
    const sse = await startEverything('sse');
    started.push(sse);
    const proxy = await tlsProxy(new URL(sse.url).port);
    try {
      const url = `https://127.0.0.1:${proxy.port}/sse`;
      const nexus = await nexusFor(
        remote('secure', url, `root_ca_cert_path = "${certs.ca.cert}"`, 'sse') + remote('untrusted', url, '', 'sse'),
      );
      expect(state(nexus)).toEqual({ status: 'ready' });
      expect(state(nexus, 'untrusted')?.status).toMatch(/failed|connecting/);
    } finally {
      proxy.server.closeAllConnections();
      proxy.server.close();
    }
  });
});

/** Terminates TLS with the test server certificate and passes everything to a local HTTP port. */
async function tlsProxy(targetPort: string): Promise<{ server: HttpsServer; port: number }> {
  const server = createHttpsServer({ cert: readFileSync(certs.server.cert), key: readFileSync(certs.server.key) }, (req, res) => {
    const upstream = httpRequest(
      { host: '127.0.0.1', port: targetPort, path: req.url, method: req.method, headers: req.headers },
      (reply) => {
        res.writeHead(reply.statusCode ?? 502, reply.headers);
        reply.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as { port: number }).port };
}
