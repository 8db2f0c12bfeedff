/**
 * The interpreter loop both workflows run (docs/workflows.md, "The loop"): an inbox that message handlers push
 * into, rounds that decide every pending input with the workflow clock, append the new events in one activity call
 * and then act on them, the wait for the next input, and the continue-as-new check that keeps history bounded
 * (after letting every in-flight operator Update finish). A workflow hands it its own rules — what an inbox item
 * means to its decider, how a decision folds into its state, what it does once events are appended — and keeps
 * its state, its message handlers and its own waits in its own file.
 *
 * The loop issues no command of its own beyond the `appendEvents` activity, the waits it is given and, for appended
 * events that notify (`events/notification.ts`), one `deliverNotification` activity each, started without being
 * awaited (see `NOTIFY_PATCH`): every other command comes from the workflow's rules, in the order the rules issue them.
 */
import { allHandlersFinished, condition, log, patched, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { isRefusal, type OperatorRequest, type Refusal } from '../events/commands';
import type { DomainEvent } from '../events/domain-events';
import { notificationKindOf } from '../events/notification';
import type { PlanWebhook } from '../events/webhook-config';
import {
  HARD_MAX_HISTORY_EVENTS,
  MAX_HISTORY_BYTES,
  MAX_HISTORY_EVENTS,
  MAX_ITEMS_PER_ROUND,
  kafkaActivityOptions,
  notifyActivityOptions,
} from './activity-options';
import type { RecentAnswers } from './messages';
import { handleOperatorUpdates, type OperatorAnswers } from './operator-update';

const { appendEvents } = proxyActivities<Activities>(kafkaActivityOptions);
const { deliverNotification } = proxyActivities<Activities>(notifyActivityOptions);

/**
 * The patch marker of webhook notifications: a run recorded before it started no deliveries, so its history replays
 * unchanged; a run that has it starts one `deliverNotification` per notifying event, right after the append.
 */
export const NOTIFY_PATCH = 'webhook-notifications';

/** The workflow clock as an ISO timestamp (deterministic inside a workflow). */
export function now(): string {
  return new Date().toISOString();
}

/** What an inbox holds: items of the workflow's own kinds; an operator command is `operator` with its ticket. */
export type InboxItem = { kind: string; ticket?: number };

/**
 * What the decider made of one input, already folded into the workflow's state: the events, and optionally the
 * events that one of them leads to by a side effect taken before the round appends (the rollout restarts a lost
 * lane and folds the lane's unreported events). `followUp` returns null for an event that asks for nothing.
 */
export type Decided = {
  events: readonly DomainEvent[];
  followUp?: (event: DomainEvent) => Promise<readonly DomainEvent[]> | null;
};

/** A workflow's own rules, as the loop needs them. */
export type Rules<Item extends InboxItem, Input, State> = {
  /** What an earlier run carried over, in arrival order. */
  inbox: readonly Item[];
  /** Fields every log line of the loop carries (`{ lane }`, `{ rolloutId }`). */
  logContext: Record<string, unknown>;
  /** The workflow's state now: the loop reads it when a round starts and hands it to `act` as the state before. */
  state: () => State;
  /** The decider inputs an inbox item stands for, stamped with the round's clock `at`; an invalid item gives none. */
  deciderInputsOf: (item: Item, at: string) => readonly Input[];
  /** Decides one input on the workflow's state and folds what it decided into that state; a refusal changes nothing. */
  decide: (input: Input, at: string) => Refusal | Decided;
  /** The input the clock makes due at `at` (a deadline that passed), decided after the round's other inputs. */
  dueInput?: (at: string) => Input | null;
  /** What the workflow does once a round's events are appended (orders, reports, signals), given its earlier state. */
  act: (events: readonly DomainEvent[], before: State) => Promise<void>;
  /** The number of decider inputs an item stands for, which rounds and pending counts are measured in (default 1). */
  weightOf?: (item: Item) => number;
  /** Decisions a run may take before it continues as new (a replay of the run must fit in one workflow task). */
  maxInputsPerRun?: number;
  /**
   * Pending inputs a run may hand to the next one: with more pending it keeps deciding before it continues as new,
   * up to `HARD_MAX_HISTORY_EVENTS`. Without it, a run carries whatever is pending.
   */
  maxCarriedInputs?: number;
  /**
   * What the notifications of appended events carry: the release and the plan's webhooks (the worker adds its global
   * ones). Without it the loop starts no deliveries.
   */
  notifications?: { releaseId: string; webhooks: readonly PlanWebhook[] };
};

/** How a workflow runs its main loop. */
export type Run = {
  /** True while the workflow goes on deciding; the loop ends when it is false. */
  running: () => boolean;
  /** Waits for the next input: returns when `ready()` (an input is pending, or the run should continue as new). */
  wait: (ready: () => boolean) => Promise<void>;
  /** Called after each round of the main loop with the number of events it appended. */
  afterRound?: (appended: number) => void;
  /** Continues as new with what the workflow carries (never returns). */
  continueAsNew: () => Promise<never>;
};

/** The loop of one workflow run (see the module comment). */
export type Interpreter<Item extends InboxItem, Input> = {
  /** The inputs not yet decided, in arrival order (carry it through continue-as-new). */
  readonly inbox: readonly Item[];
  /** Puts an input in the inbox; message handlers do nothing else. */
  push: (item: Item) => void;
  /** The number of decider inputs pending (a signal may carry many). */
  pending: () => number;
  /** Installs the `operatorCommand` Update: `check` throws for a refused request, `itemOf` queues an accepted one. */
  acceptOperatorUpdates: (
    check: (request: OperatorRequest) => void,
    itemOf: (ticket: number, request: OperatorRequest) => Item,
    recentAnswers: RecentAnswers,
  ) => void;
  /** Takes the next round's items off the inbox: whole items, about `MAX_ITEMS_PER_ROUND` inputs in all. */
  nextItems: () => Item[];
  /** decide → append → act for `items` (then `extra`, then any due input) in one round; returns the events appended. */
  round: (items: readonly Item[], extra?: readonly Input[]) => Promise<number>;
  /** True when the run should continue as new (Temporal suggests it, or the run passed one of its bounds). */
  historyIsLong: () => boolean;
  /**
   * Lets every in-flight Update finish (deciding what it waits for) and every started notification delivery settle
   * before the run closes (completes or continues as new).
   */
  settleHandlers: () => Promise<void>;
  /** The main loop: until `running()` is false, continue as new when the history is long, else wait and decide. */
  run: (how: Run) => Promise<void>;
};

/** Builds the loop of one workflow run from the workflow's rules. */
export function createInterpreter<Item extends InboxItem, Input, State>(
  rules: Rules<Item, Input, State>,
): Interpreter<Item, Input> {
  const inbox: Item[] = [...rules.inbox];
  const answers: OperatorAnswers = {};
  const weightOf = rules.weightOf ?? (() => 1);
  const maxInputsPerRun = rules.maxInputsPerRun ?? Number.POSITIVE_INFINITY;
  let decidedThisRun = 0;
  /** Notification deliveries started and not yet settled (accepted, refused, or out of attempts). */
  let deliveries = 0;

  function pending(): number {
    return inbox.reduce((n, item) => n + weightOf(item), 0);
  }

  function nextItems(): Item[] {
    let budget = MAX_ITEMS_PER_ROUND;
    let count = 0;
    while (count < inbox.length && budget > 0) budget -= weightOf(inbox[count++]!);
    return inbox.splice(0, count);
  }

  async function round(items: readonly Item[], extra: readonly Input[] = []): Promise<number> {
    const at = now();
    const before = rules.state();
    const events: DomainEvent[] = [];
    const accepted: { ticket: number; eventIds: string[] }[] = [];
    /** Decides one input; the decision, or null when the decider refused it. */
    const decideOne = (item: Item | null, next: Input): Decided | null => {
      decidedThisRun++;
      const decided = rules.decide(next, at);
      if (isRefusal(decided)) {
        if (item?.kind === 'operator' && item.ticket !== undefined) answers[item.ticket] = decided;
        else if (item !== null) {
          log.warn('decider refused an input; dropped', {
            ...rules.logContext,
            kind: item.kind,
            reason: decided.reason,
          });
        }
        return null;
      }
      events.push(...decided.events);
      return decided;
    };
    for (const item of items) {
      for (const next of rules.deciderInputsOf(item, at)) {
        const decided = decideOne(item, next);
        if (decided === null) continue;
        if (decided.followUp !== undefined) {
          for (const event of decided.events) {
            const more = decided.followUp(event);
            if (more !== null) events.push(...(await more));
          }
        }
        if (item.kind === 'operator' && item.ticket !== undefined) {
          accepted.push({ ticket: item.ticket, eventIds: decided.events.map((e) => e.eventId) });
        }
      }
    }
    for (const next of extra) decideOne(null, next);
    const due = rules.dueInput?.(at) ?? null;
    if (due !== null) decideOne(null, due);

    if (events.length > 0) {
      await appendEvents(events);
      startDeliveries(events);
      await rules.act(events, before);
    }
    for (const { ticket, eventIds } of accepted) answers[ticket] = { accepted: true, eventIds };
    return events.length;
  }

  /**
   * Starts one `deliverNotification` per appended event that notifies, without awaiting it: the decision is in the
   * log and the loop moves on; a delivery that fails for good is logged, never fails the workflow. Deliveries are
   * awaited only when the run closes (`settleHandlers`). The patch is asked only when there is something to deliver.
   */
  function startDeliveries(events: readonly DomainEvent[]): void {
    const notifying = events.filter((event) => notificationKindOf(event) !== null);
    const notifications = rules.notifications;
    if (notifying.length === 0 || notifications === undefined || !patched(NOTIFY_PATCH)) return;
    for (const event of notifying) {
      deliveries++;
      void deliverNotification({ event, releaseId: notifications.releaseId, webhooks: [...notifications.webhooks] })
        .then(
          (result) => {
            if (result.accepted.length > 0) {
              log.info('notification delivered', { ...rules.logContext, id: result.id, accepted: result.accepted });
            }
          },
          (err: unknown) => {
            log.warn('notification not delivered', { ...rules.logContext, id: event.eventId, err: String(err) });
          },
        )
        .finally(() => {
          deliveries--;
        });
    }
  }

  function historyIsLong(): boolean {
    const info = workflowInfo();
    return (
      info.continueAsNewSuggested ||
      info.historyLength > MAX_HISTORY_EVENTS ||
      info.historySize > MAX_HISTORY_BYTES ||
      decidedThisRun > maxInputsPerRun
    );
  }

  async function settleHandlers(): Promise<void> {
    const settled = () => allHandlersFinished() && deliveries === 0;
    while (!settled()) {
      await condition(() => settled() || inbox.some((item) => item.kind === 'operator'));
      if (!allHandlersFinished()) await round(nextItems());
    }
  }

  async function run(how: Run): Promise<void> {
    // A long run continues as new only once no notification delivery is outstanding (a delivery started by this run
    // would end with it); until then it goes on deciding its inputs and deadlines as usual, so a slow webhook never
    // holds a decision, up to the hard history bound, where it waits for the deliveries.
    const mayContinue = () =>
      historyIsLong() && (deliveries === 0 || workflowInfo().historyLength >= HARD_MAX_HISTORY_EVENTS);
    const ready = () => inbox.length > 0 || mayContinue();
    while (how.running()) {
      if (mayContinue()) {
        // Catch up first if too much is pending to carry over (a burst of signals), within a hard bound.
        const maxCarried = rules.maxCarriedInputs;
        if (maxCarried !== undefined) {
          while (pending() > maxCarried && workflowInfo().historyLength < HARD_MAX_HISTORY_EVENTS) {
            await round(nextItems());
          }
        }
        await settleHandlers();
        if (!how.running()) break;
        await how.continueAsNew();
      }
      await how.wait(ready);
      const appended = await round(nextItems());
      how.afterRound?.(appended);
    }
  }

  return {
    inbox,
    push: (item) => {
      inbox.push(item);
    },
    pending,
    acceptOperatorUpdates: (check, itemOf, recentAnswers) =>
      handleOperatorUpdates(answers, check, (ticket, request) => inbox.push(itemOf(ticket, request)), recentAnswers),
    nextItems,
    round,
    historyIsLong,
    settleHandlers,
    run,
  };
}
