/**
 * Structured logging for every process (worker, ingest, simulator, CLI daemons): one JSON line per
 * record on stderr, so stdout stays free for command output and logs can be shipped as they are.
 * LOG_LEVEL sets the level (default info); tests set it to `silent`.
 */
import pino, { type Logger } from 'pino';

export type { Logger } from 'pino';

/** Creates the logger of one component (`worker`, `ingest`, …), writing JSON lines to stderr. */
export function createLogger(component: string, level: string = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({ level, base: { component }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination(2));
}
