/**
 * A call's `call_timeout`: restarted by each progress notification, paused while the call waits
 * for its client (a person answering an elicitation is not a server that hangs).
 */
export class CallTimer {
  private timer: NodeJS.Timeout | undefined;
  private paused = 0;
  private stopped = false;

  constructor(
    private readonly ms: number,
    private readonly expire: () => void,
  ) {
    this.arm();
  }

  restart(): void {
    if (this.paused === 0) this.arm();
  }

  /** Stops the clock until the returned function is called (pauses nest). */
  pause(): () => void {
    this.paused++;
    clearTimeout(this.timer);
    let resumed = false;
    return () => {
      if (resumed) return;
      resumed = true;
      if (--this.paused === 0) this.arm();
    };
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private arm(): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(this.expire, this.ms);
  }
}
