/**
 * How the CLI reports an error: one clear sentence on stderr, an exit code per kind, never a stack trace for a
 * user's mistake. Anything unexpected prints its message and, with `--debug` (or DEBUG=1), the stack. Loaded only
 * when a command failed: it knows the typed client's errors, and so loads the client.
 */
import { CommandRefusedError, InvalidPlanError, RolloutExistsError, UnknownRolloutError } from '../client';
import { ConfigError } from '../config/env';
import { EXIT, messageOf, UserError } from './errors';

/** Writes the error for a person and returns the exit code the process should end with. */
export function reportError(err: unknown, debug: boolean): number {
  const write = (text: string) => process.stderr.write(`rollout: ${text}\n`);
  if (err instanceof InvalidPlanError) {
    write('invalid plan:');
    for (const e of err.errors) process.stderr.write(`  ${e.path}: ${e.rule} (value: ${JSON.stringify(e.value)})\n`);
    return EXIT.usage;
  }
  if (err instanceof ConfigError) {
    write(err.message);
    return EXIT.usage;
  }
  if (err instanceof UnknownRolloutError) {
    write(`${err.message}. \`rollout list\` shows the rollouts this Temporal namespace knows.`);
    return EXIT.unknownRollout;
  }
  if (err instanceof CommandRefusedError) {
    write(`refused: ${err.reason}`);
    return EXIT.refused;
  }
  if (err instanceof RolloutExistsError) {
    write(`${err.message}; choose another --id or leave it out to generate one.`);
    return EXIT.usage;
  }
  if (err instanceof UserError) {
    write(err.message);
    return err.exitCode;
  }
  write(`unexpected error: ${messageOf(err)}${debug ? '' : ' (run with --debug for details)'}`);
  if (debug && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  return EXIT.failure;
}
