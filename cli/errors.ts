/**
 * Errors a person can act on, and their exit codes; `report-error.ts` says how the CLI prints them. This module
 * imports nothing, so every command (and `--help`) can use it without loading the engine.
 */
import { EXIT, UserError } from '../config/user-error';

// Defined on the bottom floor so that every floor (the replay's report readers among them) can throw them too.
export { EXIT, UserError };

/** The name `UnreachableError` gives the HTTP API (`ROLLOUT_API_URL`). */
export const API = 'the rollout API';

/** A server the command needs does not answer: names it and says how to start the local ones. */
export class UnreachableError extends UserError {
  constructor(what: string, address: string, cause: unknown) {
    const hint =
      what === API
        ? `  Start it with \`rollout serve\`, point ROLLOUT_API_URL at a running one, or unset it to talk to Temporal.`
        : `  Start the local servers with \`make servers-up\` (or \`npx rollout dev\`), or point ` +
          `${what === 'Kafka' ? 'KAFKA_BROKERS' : 'TEMPORAL_ADDRESS'} at a running one.`;
    super(`${what} at ${address} does not answer (${messageOf(cause)}).\n${hint}`, EXIT.unreachable);
  }
}

/** The first line of an error's message (or the value as text). */
export function messageOf(err: unknown): string {
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
