/** The pino logger factory: level and style come from the CLI, nothing else reads them. */
import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';
import type { Redactor } from './redact.js';

export type LogLevel = 'off' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
export type LogStyle = 'color' | 'text' | 'json';
export type { Logger };

export function createLogger(level: LogLevel = 'info', style: LogStyle = 'text'): Logger {
  const options = { level: level === 'off' ? 'silent' : level, base: undefined };
  if (style === 'json') return pino(options);
  // Synchronous pretty printing: no worker thread, and nothing is lost when the process exits.
  const stream = pretty({ colorize: style === 'color', sync: true, ignore: 'pid,hostname', translateTime: 'SYS:HH:MM:ss.l' });
  return pino(options, stream);
}

/** A logger that drops everything, for tests and embedding. */
export const silentLogger: Logger = pino({ level: 'silent' });

/** `logger`, with `redactor`'s secrets replaced in every field it logs (its children's included). */
export function redactingLogger(logger: Logger, redactor: Redactor): Logger {
  if (!redactor.active) return logger;
  const redacted = (fields: object) => {
    try {
      return redactor.value(fields);
    } catch {
      // A log line must never throw where it is written; this one loses its fields instead.
      return { redaction_failed: true };
    }
  };
  return logger.child({}, { formatters: { log: redacted } });
}

/** What telemetry adds to nexus's log lines: an OTLP destination, and the active trace's ids. */
export interface LogAdditions {
  /** Also receives every line written (when logs are exported). */
  destination?: { write(line: string): void };
  /** Fields added to each line (trace and span ids, when tracing). */
  fields?: () => object;
}

/**
 * `logger` with telemetry's additions: each line also written to `destination` (after the same
 * level check), and `fields()` added to each line.
 */
export function withAdditions(logger: Logger, { destination, fields }: LogAdditions): Logger {
  if (!destination && !fields) return logger;
  const own = (logger as unknown as Record<symbol, pino.DestinationStream>)[pino.symbols.streamSym] as pino.DestinationStream;
  const stream = destination
    ? pino.multistream([
        { stream: own, level: 'trace' },
        { stream: destination, level: 'trace' },
      ])
    : own;
  return pino({ level: logger.level, base: undefined, ...(fields && { mixin: fields }) }, stream);
}
