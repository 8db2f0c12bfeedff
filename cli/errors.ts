/**
 * Errors a person can act on, and how the CLI reports them: one clear sentence on stderr, an exit code
 * per kind, never a stack trace for a user's mistake. Anything unexpected prints its message and, with
 * `--debug` (or DEBUG=1), the stack.
 */
import { ConfigError } from '../config/env';
import { CommandRefusedError, InvalidPlanError, RolloutExistsError, UnknownRolloutError } from '../client';
import { EXIT, UserError } from '../config/user-error';

// Defined on the bottom floor so that commands below the CLI (`replay/cli-replay.ts`) can throw them too.
export { EXIT, UserError };

/** A server the command needs does not answer: names it and says how to start the local ones. */
export class UnreachableError extends UserError {
  constructor(what: string, address: string, cause: unknown) {
    super(
      `${what} at ${address} does not answer (${messageOf(cause)}).\n` +
        `  Start the local servers with \`make servers-up\` (or \`npx rollout dev\`), or point ` +
        `${what === 'Kafka' ? 'KAFKA_BROKERS' : 'TEMPORAL_ADDRESS'} at a running one.`,
      EXIT.unreachable,
    );
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? (err.message.split('\n')[0] ?? err.name) : String(err);
}

/** Whether an error means the Temporal frontend could not be reached. */
export function isTemporalUnreachable(err: unknown): boolean {
  const text = `${(err as Error)?.name ?? ''} ${messageOf(err)}`;
  return /TransportError|Failed to connect|failed to connect|ECONNREFUSED|deadline|UNAVAILABLE|14 UNAVAILABLE/i.test(
    text,
  );
}

/** Whether an error means no Kafka broker could be reached. */
export function isKafkaUnreachable(err: unknown): boolean {
  const text = `${(err as Error)?.name ?? ''} ${messageOf(err)}`;
  return /KafkaJSConnectionError|KafkaJSNumberOfRetriesExceeded|ECONNREFUSED|Connection timeout|KafkaJSBrokerNotFound/i.test(
    text,
  );
}

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
