/**
 * The `operatorCommand` Update of both workflows. The validator parses the request and runs the workflow's
 * decider on it, so a refused command is rejected with the decider's reason (`RolloutRejected`) and never
 * enters history; an accepted one is queued as a ticket for the workflow's next round, and the handler
 * resolves with what that round appended (or fails if the round refused it after all).
 */
import { ApplicationFailure, condition, setHandler } from '@temporalio/workflow';
import { OperatorRequestSchema, isRefusal, type OperatorRequest, type Refusal } from '../events/commands';
import { operatorUpdate, type OperatorCommandResult } from './messages';

/** Where a round leaves the answer to a ticket. */
export type OperatorAnswers = Record<number, OperatorCommandResult | Refusal>;

/** A refusal as the failure an Update caller sees. */
export function rejected(reason: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(reason, 'RolloutRejected');
}

/**
 * Installs the handler. `check` throws (`rejected(...)`) for a request this workflow refuses; `enqueue` puts an
 * accepted request in the workflow's inbox under its ticket; the round writes the answer into `answers`.
 */
export function handleOperatorUpdates(
  answers: OperatorAnswers,
  check: (request: OperatorRequest) => void,
  enqueue: (ticket: number, request: OperatorRequest) => void,
): void {
  let nextTicket = 0;
  setHandler(
    operatorUpdate,
    async (request) => {
      const ticket = nextTicket++;
      enqueue(ticket, OperatorRequestSchema.parse(request));
      await condition(() => answers[ticket] !== undefined);
      const answer = answers[ticket];
      delete answers[ticket];
      if (answer === undefined || isRefusal(answer)) throw rejected(answer?.reason ?? 'no answer');
      return answer;
    },
    {
      validator: (request) => {
        const parsed = OperatorRequestSchema.safeParse(request);
        if (!parsed.success) throw rejected(parsed.error.message);
        check(parsed.data);
      },
    },
  );
}
