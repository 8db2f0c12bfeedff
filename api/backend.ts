/**
 * What the API's routes do, behind one small interface: the engine (`engineBackend`: Temporal for commands and
 * status, the Kafka event log for events and postmortems, through the same `client/` functions the CLI calls), or a
 * fake in the route tests. Every method may throw the typed client errors (`InvalidPlanError`, `CommandRefusedError`,
 * `UnknownRolloutError`, `RolloutExistsError`) or a `UserError`; the server turns them into 4xx answers.
 */
import type { Client } from '@temporalio/client';
import type { Kafka } from 'kafkajs';
import { getStatus, type RolloutListing, type RolloutStatusView, type StartedRollout } from '../client';
import {
  listOperation,
  runOperatorOperation,
  startOperation,
  type CheckedOperatorOperation,
} from '../client/operations';
import { loadRolloutReport } from '../client/report';
import type { Config } from '../config/env';
import { EXIT, UserError } from '../config/user-error';
import type { DomainEvent } from '../events/domain-events';
import { deviceKeysOf } from '../ingest/device-key-secret';
import type { EventConflict } from '../replay/event-conflicts';
import { readRolloutLog } from '../replay/read-log';
import type { ReplayReport } from '../replay/postmortem';
import type { OperatorCommandResult } from '../workflows/messages';

/** A start as the API asks for it: a validated plan, who (the authenticated identity) and why. */
export interface StartRequest {
  plan: unknown;
  rolloutId?: string;
  /** The rollout this one supersedes (`--supersedes`). */
  supersedes?: string;
  actor: string;
  reason: string;
}

/** The engine as the routes see it. */
export interface RolloutBackend {
  /** The Temporal namespace the backend serves: the namespace grants are checked against. */
  readonly namespace: string;
  list(limit: number): Promise<RolloutListing[]>;
  status(rolloutId: string): Promise<RolloutStatusView>;
  /** The rollout's domain events (first content of each id) and the ids appended with two contents. */
  events(rolloutId: string): Promise<{ events: DomainEvent[]; conflicts: EventConflict[] }>;
  report(rolloutId: string, at: string | undefined): Promise<ReplayReport>;
  start(request: StartRequest): Promise<StartedRollout>;
  command(op: CheckedOperatorOperation): Promise<OperatorCommandResult>;
}

/** The engine's backend over a Temporal client and a Kafka client. */
export function engineBackend(client: Client, kafka: Kafka, config: Config, maxActiveRollouts: number): RolloutBackend {
  return {
    namespace: config.temporal.namespace,
    list: (limit) => listOperation(client, limit),
    status: (rolloutId) => getStatus(client, rolloutId),
    async events(rolloutId) {
      const log = await readRolloutLog(kafka, config.topics.rolloutEvents, rolloutId);
      if (log.events.length === 0) {
        throw new UserError(`no events for rollout ${rolloutId}`, EXIT.unknownRollout);
      }
      return { events: log.events, conflicts: log.conflicts };
    },
    async report(rolloutId, at) {
      const loaded = await loadRolloutReport(kafka, config.topics, rolloutId, {
        ...(at !== undefined && { at }),
        deviceKeys: () => deviceKeysOf(config.deviceKeys),
      });
      return loaded.report;
    },
    start: (request) =>
      startOperation(client, {
        plan: request.plan,
        ...(request.rolloutId !== undefined && { rolloutId: request.rolloutId }),
        ...(request.supersedes !== undefined && { supersedes: request.supersedes }),
        actor: request.actor,
        reason: request.reason,
        taskQueue: config.temporal.taskQueue,
        maxActiveRollouts,
      }),
    command: (op) => runOperatorOperation(client, op),
  };
}
