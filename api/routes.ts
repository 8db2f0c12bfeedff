/**
 * The API's routes as data: method, path, the role each needs, and the zod schemas of its path parameters, query
 * and body. The server validates every request with these schemas, and the OpenAPI document (`GET /openapi.json`)
 * is generated from the same ones, so the two cannot drift.
 */
import { z } from 'zod';
import { RequestIdSchema } from '../client';
import { OPERATOR_COMMAND_TYPES, ReasonSchema, type OperatorCommandType } from '../events/domain-events';
import { DeviceClassSchema, IdSchema } from '../events/install-event';
import { RolloutPlanSchema } from '../events/plan';
import { AlertmanagerWebhookSchema } from './alertmanager';
import type { Role } from './roles';

/** `:id` of a rollout route. */
export const RolloutParamsSchema = z.object({ id: IdSchema }).strict();

/** `GET /api/v1/rollouts?limit=N`. */
export const ListQuerySchema = z
  .object({
    limit: z
      .string()
      .regex(/^\d{1,6}$/, 'must be a whole number')
      .optional(),
  })
  .strict();

/** `GET /api/v1/rollouts/:id/report?format=json|html|text&at=ISO-8601`. */
export const ReportQuerySchema = z
  .object({
    format: z.enum(['json', 'html', 'text']).default('json'),
    at: z.string().max(64).optional(),
  })
  .strict();

/** `GET /api/v1/rollouts/:id/stream?interval=ms`: how often the status is polled (250 ms to 60 s). */
export const StreamQuerySchema = z
  .object({
    interval: z
      .string()
      .regex(/^\d{3,5}$/, 'must be 100 to 99999 milliseconds')
      .optional(),
  })
  .strict();

/**
 * `POST /api/v1/rollouts` with `application/json`: the plan as an object, or as YAML or JSON text. The actor is
 * the authenticated identity: a body that names one is refused.
 */
export const StartBodySchema = z
  .object({
    plan: z.union([z.record(z.string(), z.unknown()), z.string().max(64 * 1024 * 1024)]),
    rolloutId: IdSchema.optional(),
    reason: ReasonSchema.optional(),
    /** The id of a finished or halted rollout this one supersedes (`rollout start --supersedes`). */
    supersedes: IdSchema.optional(),
  })
  .strict();

/** `POST /api/v1/rollouts` with a YAML body (`application/yaml`, `text/yaml`): the id and reason in the query. */
export const StartQuerySchema = z
  .object({ rolloutId: IdSchema.optional(), reason: z.string().max(1000).optional(), supersedes: IdSchema.optional() })
  .strict();

/** An operator command's body: the class (default: the whole rollout), the reason (always), a request id. */
export const CommandBodySchema = z
  .object({
    class: DeviceClassSchema.optional(),
    reason: ReasonSchema,
    requestId: RequestIdSchema.optional(),
  })
  .strict();

/** The role each operator command needs. */
export const COMMAND_ROLES: Record<OperatorCommandType, Role> = {
  pause: 'operator',
  resume: 'operator',
  approve: 'approver',
  retry: 'operator',
  rollback: 'operator',
  abort: 'operator',
  restart: 'operator',
};

/** One route as the server registers it and the OpenAPI document describes it. */
export interface RouteSpec {
  method: 'GET' | 'POST';
  /** Fastify's path syntax (`:id`). */
  url: string;
  /** The role it needs, or `public` for the unauthenticated ones. */
  role: Role | 'public';
  summary: string;
  params?: z.ZodType;
  query?: z.ZodType;
  body?: z.ZodType;
  /** Content types of the body beside JSON. */
  bodyTypes?: string[];
  /** Whether the per-identity command rate limit applies. */
  limited?: boolean;
}

/** Every route. */
export const ROUTES: readonly RouteSpec[] = [
  { method: 'GET', url: '/healthz', role: 'public', summary: 'liveness' },
  { method: 'GET', url: '/openapi.json', role: 'public', summary: 'this document' },
  { method: 'GET', url: '/api/v1/rollouts', role: 'viewer', summary: 'rollouts, newest first', query: ListQuerySchema },
  {
    method: 'POST',
    url: '/api/v1/rollouts',
    role: 'operator',
    summary: 'validate a plan and start its rollout (operator for every class of the plan)',
    body: StartBodySchema,
    query: StartQuerySchema,
    bodyTypes: ['application/yaml', 'text/yaml'],
    limited: true,
  },
  {
    method: 'GET',
    url: '/api/v1/rollouts/:id',
    role: 'viewer',
    summary: 'status: per class phase, exposure, counts, verdict',
    params: RolloutParamsSchema,
  },
  {
    method: 'GET',
    url: '/api/v1/rollouts/:id/events',
    role: 'viewer',
    summary: 'the domain event log (who did what and why)',
    params: RolloutParamsSchema,
  },
  {
    method: 'GET',
    url: '/api/v1/rollouts/:id/report',
    role: 'viewer',
    summary: 'the postmortem (JSON, HTML or text)',
    params: RolloutParamsSchema,
    query: ReportQuerySchema,
  },
  {
    method: 'GET',
    url: '/api/v1/rollouts/:id/stream',
    role: 'viewer',
    summary: 'Server-Sent Events: `status` on every change, `end` when the rollout ends',
    params: RolloutParamsSchema,
    query: StreamQuerySchema,
  },
  ...OPERATOR_COMMAND_TYPES.map((type): RouteSpec => ({
    method: 'POST',
    url: `/api/v1/rollouts/:id/${type}`,
    role: COMMAND_ROLES[type],
    summary: `${type} the rollout or one class (\`class\`), with a reason`,
    params: RolloutParamsSchema,
    body: CommandBodySchema,
    limited: true,
  })),
  {
    method: 'POST',
    url: '/api/v1/alertmanager',
    role: 'operator',
    summary: 'Alertmanager webhook (v4): firing alerts labelled rollout_id [, device_class] pause them',
    body: AlertmanagerWebhookSchema,
    limited: true,
  },
];

/** The plan's schema (input side), for the OpenAPI document's `plan`. */
export const PLAN_INPUT_SCHEMA = RolloutPlanSchema;
