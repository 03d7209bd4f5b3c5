/**
 * Warnings that another party can trigger at will (a server printing its logs to stdout) must not
 * flood our log: at most `burst` lines per window; when the window ends, one line says how many
 * more there were.
 */
import type { Logger } from './log.js';

export class ThrottledWarnings {
  private logged = 0;
  private suppressed = 0;
  private window: NodeJS.Timeout | undefined;

  /** `what`: what is counted, for the "suppressed" line ("lines of stdout noise"). */
  constructor(
    private readonly log: Logger,
    private readonly what: string,
    private readonly burst = 5,
    private readonly windowMs = 10_000,
  ) {}

  warn(fields: Record<string, unknown>, message: string): void {
    this.window ??= setTimeout(() => this.flush(), this.windowMs).unref();
    if (this.logged < this.burst) {
      this.logged++;
      this.log.warn(fields, message);
    } else {
      this.suppressed++;
    }
  }

  /** Ends the current window: logs how many warnings it suppressed, if any. */
  flush(): void {
    clearTimeout(this.window);
    this.window = undefined;
    if (this.suppressed > 0) this.log.warn({ suppressed: this.suppressed }, `${this.suppressed} more ${this.what} not logged`);
    this.logged = 0;
    this.suppressed = 0;
  }
}
