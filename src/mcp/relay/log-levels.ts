/**
 * The log level each 2025-era caller asked for with `logging/setLevel`, by callerKey. nexus keeps
 * no sessions, so this is the one thing it remembers of one; bounded, oldest forgotten first, and
 * per instance (docs/decisions.md). A 2026-era client names its level in each request instead.
 */
import type { LoggingLevel } from '@modelcontextprotocol/server';

export class LogLevels {
  private readonly levels = new Map<string, LoggingLevel>();

  constructor(private readonly max = 10_000) {}

  set(caller: string, level: LoggingLevel): void {
    this.levels.delete(caller);
    this.levels.set(caller, level);
    if (this.levels.size > this.max) this.levels.delete(this.levels.keys().next().value as string);
  }

  get(caller: string | undefined): LoggingLevel | undefined {
    return caller === undefined ? undefined : this.levels.get(caller);
  }
}
