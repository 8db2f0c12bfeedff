/**
 * The `operatorCommand` Update of both workflows. The validator parses the request and runs the workflow's
 * decider on it, so a refused command is rejected with the decider's reason (`RolloutRejected`) and never
 * enters history; an accepted one is queued as a ticket for the workflow's next round, and the handler
 * resolves with what that round appended (or fails if the round refused it after all).
 *
 * Idempotent by request id: the caller sends every command with a request id as the Update id. Temporal
 * itself answers a repeated Update id with the first outcome, but only within one run; the workflow also
 * keeps the last `MAX_RECENT_ANSWERS` request ids with their answers (`RecentAnswers`, carried through
 * continue-as-new), and answers a repeat from there without validating or applying it again.
 */
import { ApplicationFailure, condition, currentUpdateInfo, setHandler } from '@temporalio/workflow';
import { OperatorRequestSchema, isRefusal, type OperatorRequest, type Refusal } from '../events/commands';
import { operatorUpdate, type OperatorCommandResult, type RecentAnswers } from './messages';

/** Where a round leaves the answer to a ticket. */
export type OperatorAnswers = Record<number, OperatorCommandResult | Refusal>;

/** How many answered request ids a workflow remembers (and carries through continue-as-new). */
export const MAX_RECENT_ANSWERS = 256;

/** A refusal as the failure an Update caller sees. */
export function rejected(reason: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(reason, 'RolloutRejected');
}

/**
 * Installs the handler. `check` throws (`rejected(...)`) for a request this workflow refuses; `enqueue` puts an
 * accepted request in the workflow's inbox under its ticket; the round writes the answer into `answers`.
 * `recent` holds the answers to remember (mutated in place; the caller carries it through continue-as-new).
 */
export function handleOperatorUpdates(
  answers: OperatorAnswers,
  check: (request: OperatorRequest) => void,
  enqueue: (ticket: number, request: OperatorRequest) => void,
  recent: RecentAnswers,
): void {
  let nextTicket = 0;
  const known = () => {
    const id = currentUpdateInfo()?.id;
    return id === undefined ? undefined : recent.find((r) => r.requestId === id);
  };
  setHandler(
    operatorUpdate,
    async (request) => {
      const repeated = known();
      if (repeated !== undefined) {
        if (isRefusal(repeated.answer)) throw rejected(repeated.answer.reason);
        return repeated.answer;
      }
      const ticket = nextTicket++;
      enqueue(ticket, OperatorRequestSchema.parse(request));
      await condition(() => answers[ticket] !== undefined);
      const answer = answers[ticket];
      delete answers[ticket];
      const requestId = currentUpdateInfo()?.id;
      if (answer !== undefined && requestId !== undefined) {
        recent.push({ requestId, answer });
        if (recent.length > MAX_RECENT_ANSWERS) recent.splice(0, recent.length - MAX_RECENT_ANSWERS);
      }
      if (answer === undefined || isRefusal(answer)) throw rejected(answer?.reason ?? 'no answer');
      return answer;
    },
    {
      validator: (request) => {
        // A repeat of an answered request is answered from memory, not judged again.
        if (known() !== undefined) return;
        const parsed = OperatorRequestSchema.safeParse(request);
        if (!parsed.success) throw rejected(parsed.error.message);
        check(parsed.data);
      },
    },
  );
}
