/**
 * nexus's own stdio client transport: newline-delimited JSON-RPC with a child process, where one
 * bad message is that message's problem and never the connection's. A request that cannot be
 * serialised fails alone; an answer over the size limit fails its call alone (it is dropped as it
 * is read, never held whole); lines that are not JSON-RPC are logged (rate-limited) and skipped.
 * Only the child's exit closes the transport. The child runs in a process group of its own, which
 * closing ends whole, and which the watchdog ends should nexus be killed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { parseJSONRPCMessage, SdkError, SdkErrorCode } from '@modelcontextprotocol/client';
import type { JSONRPCMessage, Transport } from '@modelcontextprotocol/client';
import type { StdioServerConfig } from '../../config/schema.js';
import type { Logger } from '../../log.js';
import { redactUrls } from '../../redact.js';
import { ThrottledWarnings } from '../../throttled-warnings.js';
import { BoundedLines, type Line } from './bounded-lines.js';
import { messageId, SentIds, tooLargeAnswer } from './oversized.js';
import { endProcessGroup, groupRunning } from './process-tree.js';
import { watchdog } from './watchdog.js';

/** The longest line of a server's stderr logged whole (`stderr = "pipe"`); the rest is cut. */
const MAX_STDERR_LINE = 2_000;

export interface StdioOptions {
  /** The server's name, for errors and logs. */
  server: string;
  /** The largest message read from the server (`max_result_size`). */
  maxResultBytes: number;
  logger: Logger;
}

/** How much of a stray stdout line goes into the log. */
const LOGGED_CHARS = 200;
const JSON_OBJECT_START = /^\s*\{/;
/** How long stdout lines are handled before the event loop gets a turn. */
const SLICE_MS = 5;
/** How long after the server exits its last output may take to be read, when its stdout stays open. */
const EXIT_DRAIN_MS = 250;

export class StdioTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: <T extends JSONRPCMessage>(message: T) => void;

  private child: ChildProcess | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;
  private readonly sent = new SentIds();
  private readonly server: string;
  private readonly log: Logger;
  private readonly maxResultBytes: number;
  private readonly lines: BoundedLines;
  private readonly noise: ThrottledWarnings;

  constructor(
    private readonly config: StdioServerConfig,
    options: StdioOptions,
  ) {
    this.server = options.server;
    this.log = options.logger;
    this.maxResultBytes = options.maxResultBytes;
    this.lines = new BoundedLines(this.maxResultBytes);
    this.noise = new ThrottledWarnings(this.log, 'skipped lines of stdout');
  }

  /** Spawns the child; resolves once it runs, rejects when it cannot be started. */
  async start(): Promise<void> {
    if (this.child || this.closed) throw new Error('this stdio transport was started already');
    const [command, ...args] = this.config.cmd as [string, ...string[]];
    const stderr = this.config.stderr;
    const stderrFd = typeof stderr === 'object' ? openSync(stderr.file, 'a') : undefined;
    let child: ChildProcess;
    try {
      child = spawn(command, args, {
        // Like a shell (and the original nexus), the child inherits our environment plus its own `env`.
        env: { ...process.env, ...this.config.env },
        cwd: this.config.cwd,
        stdio: ['pipe', 'pipe', stderrFd ?? (stderr === 'inherit' || stderr === 'pipe' ? stderr : 'ignore')],
        // A process group of its own: one signal ends the server and all it started.
        detached: true,
      });
    } finally {
      // The child has its own copy of the descriptor.
      if (stderrFd !== undefined) closeSync(stderrFd);
    }
    this.child = child;
    if (child.pid !== undefined) watchdog.add(child.pid, this.log);
    child.stdin?.on('error', (error) => this.log.debug({ err: error.message }, 'writing to the server failed'));
    // `stderr = "pipe"`: each line the server writes there is logged (redacted, as every log line is).
    if (child.stderr) {
      const stderrLines = new BoundedLines(MAX_STDERR_LINE);
      child.stderr.on('data', (chunk: Buffer) => {
        for (const line of stderrLines.push(chunk)) {
          const text = 'text' in line ? line.text : `${line.oversized.head}… (${line.oversized.bytes} bytes) …${line.oversized.tail}`;
          this.log.info({ stderr: text.replace(/\r$/, '') }, 'server stderr');
        }
      });
    }
    const stdout = child.stdout;
    stdout?.on('data', (chunk: Buffer) => {
      // A flood of output must not hold the event loop: lines are handled a few milliseconds at a
      // time, other work gets its turn in between, and the next chunk waits (the child too, once
      // the pipe is full).
      stdout.pause();
      this.receiveAll(this.lines.push(chunk), 0, () => stdout.resume());
    });
    child.stdout?.on('error', (error) => this.log.debug({ err: error.message }, 'reading from the server failed'));
    // 'close', not 'exit': what the child wrote before exiting is still read. Then whatever is left
    // of its group is ended too.
    child.once('close', () => {
      this.ended();
      void this.close();
    });
    child.once('exit', () => {
      // An empty group's id is free for the kernel to hand out again: the watchdog must forget it.
      if (child.pid !== undefined && !groupRunning(child.pid)) watchdog.remove(child.pid);
      // A helper the server started may hold its stdout open, and 'close' never come: the server
      // is gone all the same once what it wrote has been read.
      setTimeout(() => {
        if (this.closed) return;
        child.stdout?.destroy();
        this.ended();
        void this.close();
      }, EXIT_DRAIN_MS).unref();
    });
    await new Promise((resolve, reject) => {
      child.once('spawn', resolve);
      child.on('error', reject);
    });
  }

  send(message: JSONRPCMessage): Promise<void> {
    const stdin = this.child?.stdin;
    if (!stdin) return Promise.reject(new SdkError(SdkErrorCode.NotConnected, 'Not connected'));
    if (this.closed || !stdin.writable) return Promise.reject(this.gone());
    const request = 'method' in message && 'id' in message;
    let line: string;
    try {
      line = `${JSON.stringify(message)}\n`;
    } catch (error) {
      // This message fails; the connection, which has not seen a byte of it, goes on.
      return Promise.reject(new Error(`the ${request ? 'request' : 'message'} could not be serialised: ${(error as Error).message}`));
    }
    if (request) this.sent.add(message.id);
    return write(stdin, line).catch((error: Error) => Promise.reject(this.gone(error)));
  }

  /** Ends the child and its whole process group (stdin EOF, SIGTERM, SIGKILL); resolves once it has exited. */
  close(): Promise<void> {
    this.closing ??= this.end();
    return this.closing;
  }

  private async end(): Promise<void> {
    const child = this.child;
    if (child?.pid !== undefined) {
      await endProcessGroup(child);
      watchdog.remove(child.pid);
      // A process that left the group unseen may still hold our end of its pipes.
      child.stdout?.destroy();
      child.stdin?.destroy();
    }
    this.ended();
  }

  /** The child has exited (or never started): the connection is over, once. */
  private ended(): void {
    if (this.closed) return;
    this.closed = true;
    this.noise.flush();
    this.onclose?.();
  }

  /** Handles `lines` from `from` on, for at most SLICE_MS at a time; then `done`. */
  private receiveAll(lines: Line[], from: number, done: () => void): void {
    const started = performance.now();
    let next = from;
    while (next < lines.length) {
      this.receive(lines[next++] as Line);
      if (performance.now() - started > SLICE_MS) break;
    }
    setImmediate(() => (next < lines.length ? this.receiveAll(lines, next, done) : done()));
  }

  private receive(line: Line): void {
    if (this.closed) return;
    if ('oversized' in line) return this.oversized(line.oversized);
    if (line.text.trim() === '') return;
    let message: JSONRPCMessage | undefined;
    // Only an object can be a message: anything else is noise, told apart without the cost of a failed parse.
    if (JSON_OBJECT_START.test(line.text)) {
      try {
        message = parseJSONRPCMessage(JSON.parse(line.text));
      } catch {
        // noise too, below
      }
    }
    if (!message) {
      const text = redactUrls(line.text.length > LOGGED_CHARS ? `${line.text.slice(0, LOGGED_CHARS)}…` : line.text);
      return this.noise.warn(
        { line: text, chars: line.text.length },
        'the server wrote a line on stdout that is not a JSON-RPC message; skipped',
      );
    }
    if (('result' in message || 'error' in message) && message.id !== undefined) this.sent.delete(message.id);
    this.onmessage?.(message);
  }

  /** A message over the limit, dropped: the request it answers fails at once, if we can tell which. */
  private oversized({ head, tail, bytes }: { head: string; tail: string; bytes: number }): void {
    const id = messageId(head, tail);
    if (id !== undefined && this.sent.take(id)) return this.onmessage?.(tooLargeAnswer(id, this.server, this.maxResultBytes));
    this.noise.warn({ bytes, max_result_size: this.maxResultBytes }, 'the server sent a message over max_result_size; dropped');
  }

  private gone(cause?: Error): SdkError {
    const why = cause ? `: ${cause.message}` : '';
    return new SdkError(SdkErrorCode.ConnectionClosed, `server '${this.server}' has exited${why}`);
  }
}

/** Writes `data`, resolving once it has been handed to the pipe (so a slow reader holds us back). */
function write(stream: Writable, data: string): Promise<void> {
  return new Promise((resolve, reject) => stream.write(data, (error) => (error ? reject(error) : resolve())));
}
