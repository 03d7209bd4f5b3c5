/** A real redis-server for tests, on a free loopback port, ended by pid. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { freePort, waitForPort } from './processes.js';

export interface TestRedis {
  port: number;
  url: string;
  /** Stops it (SIGKILL, as a crash would) and waits for the exit. */
  kill(): Promise<void>;
  /** Starts it again on the same port. */
  restart(): Promise<void>;
}

function requireRedis(): void {
  if (spawnSync('redis-server', ['--version']).status !== 0) {
    throw new Error('redis-server is not installed: install it (e.g. `apt-get install redis-server`) to run the Redis tests');
  }
}

export interface RedisOptions {
  password?: string;
  /** Serve TLS only, with this certificate; `ca` set: require client certificates it signed. */
  tls?: { cert: string; key: string; ca: string; requireClientCert: boolean };
}

export async function startRedis({ password, tls }: RedisOptions = {}): Promise<TestRedis> {
  requireRedis();
  const port = await freePort();
  let child: ChildProcess | undefined;
  const start = async () => {
    const ports = tls ? ['--port', '0', '--tls-port', String(port)] : ['--port', String(port)];
    const args = [...ports, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
    if (password) args.push('--requirepass', password);
    if (tls) {
      args.push('--tls-cert-file', tls.cert, '--tls-key-file', tls.key, '--tls-ca-cert-file', tls.ca);
      args.push('--tls-auth-clients', tls.requireClientCert ? 'yes' : 'no');
    }
    child = spawn('redis-server', args, { stdio: 'ignore' });
    await waitForPort(port);
  };
  const kill = async () => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill('SIGKILL');
    await exited;
  };
  await start();
  return {
    port,
    url: `${tls ? 'rediss' : 'redis'}://${password ? `:${password}@` : ''}127.0.0.1:${port}`,
    kill,
    restart: start,
  };
}
