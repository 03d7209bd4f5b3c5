/** A pino logger whose lines are kept in memory, for tests that read the logs. */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { Logger } from '../../src/log.js';

export function capturedLogger(level: string): { logger: Logger; text: () => string } {
  let lines = '';
  const sink = new Writable({
    write(chunk, _encoding, done) {
      lines += String(chunk);
      done();
    },
  });
  return { logger: pino({ level }, sink), text: () => lines };
}
