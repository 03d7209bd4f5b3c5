/**
 * Stdio servers must not outlive nexus, even when nexus cannot end them itself (SIGKILL, the OOM
 * killer, a crash). A small watchdog process, `sh` running the script below (a node process would
 * cost ~40 MB), reads from a pipe what nexus tells it: `+<pgid>` when a server's process group
 * starts, `-<pgid>` once nexus has ended that group. However nexus exits, the kernel closes the
 * pipe: the watchdog reads EOF, gives the servers the time they would have had to exit on stdin EOF
 * (which they got too), sends SIGTERM to every group still registered, and SIGKILL to those still
 * there after the grace period, then exits. After a graceful shutdown no group is left, and it exits
 * at once.
 *
 * Only groups still registered are signalled, so a group id the kernel has since handed to an
 * unrelated process is not: nexus removes a group as soon as it has ended it (when a server dies by
 * itself, its connection is closed and the group ended at once).
 *
 * There is one watchdog per nexus process, started with the first stdio server: `watchdog` below.
 * It runs in a session of its own (so a Ctrl-C meant for nexus does not reach it) and is unref'd (it
 * never keeps nexus running). Only nexus holds the pipe's writing end (Node opens it close-on-exec,
 * so no server inherits it), so EOF means nexus is gone.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import type { Logger } from '../../log.js';
import { EOF_GRACE_MS, KILL_GRACE_MS } from './process-tree.js';

/** The watchdog's name in the process list (`$0` of its shell). */
export const WATCHDOG_NAME = 'nexus-stdio-watchdog';

/**
 * $1 and $2: the grace periods after EOF (which the servers' stdin got too when nexus went) and after
 * SIGTERM, in tenths of a second. `read` and `kill` are builtins: idle, it runs nothing.
 */
const SCRIPT = `
wait_gone() {
  tick=0
  while [ "$tick" -lt "$1" ]; do
    alive=''
    for g in $groups; do kill -0 "-$g" 2>/dev/null && alive=1; done
    [ -z "$alive" ] && exit 0
    sleep 0.1
    tick=$((tick + 1))
  done
}
groups=' '
while read -r line; do
  case $line in
    +*) groups="$groups\${line#+} " ;;
    -*) kept=' '
        for g in $groups; do [ "$g" = "\${line#-}" ] || kept="$kept$g "; done
        groups=$kept ;;
  esac
done
wait_gone "$1"
for g in $groups; do kill -TERM "-$g" 2>/dev/null; done
wait_gone "$2"
for g in $groups; do kill -KILL "-$g" 2>/dev/null; done
`;

class Watchdog {
  private process: ChildProcess | undefined;
  private readonly groups = new Set<number>();
  /** Set when `sh` could not be started: we said so once and carry on without a watchdog. */
  private unavailable = false;

  /** Registers a server's process group; `log` is where to say so if no watchdog can run. */
  add(pgid: number, log: Logger): void {
    this.groups.add(pgid);
    if (this.process) this.tell(`+${pgid}`);
    else this.start(log);
  }

  /** Unregisters a group nexus has ended. */
  remove(pgid: number): void {
    if (this.groups.delete(pgid)) this.tell(`-${pgid}`);
  }

  /** Starts the watchdog and tells it every registered group (all of them, after a restart). */
  private start(log: Logger): void {
    if (this.unavailable) return;
    const tenths = (ms: number) => String(Math.ceil(ms / 100));
    const child = spawn('sh', ['-c', SCRIPT, WATCHDOG_NAME, tenths(EOF_GRACE_MS), tenths(KILL_GRACE_MS)], {
      stdio: ['pipe', 'ignore', 'ignore'],
      detached: true,
      cwd: '/',
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' },
    });
    child.unref();
    (child.stdin as Socket | null)?.unref();
    // Writing to a watchdog that has gone fails; it is started again with the next server.
    child.stdin?.on('error', () => undefined);
    child.once('exit', () => {
      if (this.process === child) this.process = undefined;
    });
    child.once('error', (error) => {
      if (this.process === child) this.process = undefined;
      this.unavailable = true;
      log.warn({ err: error.message }, 'cannot start the watchdog that ends stdio servers should nexus be killed; they may outlive it');
    });
    this.process = child;
    this.tell([...this.groups].map((pgid) => `+${pgid}`).join('\n'));
  }

  private tell(lines: string): void {
    this.process?.stdin?.write(`${lines}\n`);
  }
}

/** The one watchdog of this process (module state on purpose: it lives exactly as long as nexus). */
export const watchdog = new Watchdog();
