/**
 * Webhook settings: which notifications exist (`NOTIFICATION_KINDS`), and the shape of one webhook as a plan names it
 * (`notifications.webhooks` in the plan file) and as the worker's global webhooks file names it
 * (`config/webhooks.ts`). Kept apart from `notification.ts` (the payloads) so the plan schema can import it without
 * importing the domain events, which import the plan.
 *
 * A secret is never written in a plan: a `json` webhook of a plan names the environment variable the worker reads it
 * from (`secretEnv`); only the worker's own file may hold a secret itself.
 */
import { z } from 'zod';

/**
 * What a webhook can be told about, each from one domain event:
 * `breach` (threshold-breached), `halt` (lane-paused by a breach or a fleet halt), `fleet-halt` (fleet-halted),
 * `rollback-started`, `rollback-completed`, `rollback-failed` (the lane failed: it waits for an operator),
 * `gate-waiting` (a lane waits for manual approval), `lane-lost` (a lane's workflow closed before its lane finished),
 * `lane-stalled` (a lane's exposed devices reported nothing for its plan's `stallAfter`), `rollout-completed` and
 * `rollout-aborted`.
 */
export const NOTIFICATION_KINDS = [
  'breach',
  'halt',
  'fleet-halt',
  'rollback-started',
  'rollback-completed',
  'rollback-failed',
  'gate-waiting',
  'lane-lost',
  'lane-stalled',
  'rollout-completed',
  'rollout-aborted',
] as const;
export const NotificationKindSchema = z.enum(NOTIFICATION_KINDS);
export type NotificationKind = z.infer<typeof NotificationKindSchema>;

/** `json`: the signed generic payload; `slack`: a Slack incoming-webhook message (`{ text, blocks }`). */
export const WebhookFormatSchema = z.enum(['json', 'slack']);
export type WebhookFormat = z.infer<typeof WebhookFormatSchema>;

/** Where a webhook posts: an absolute http or https URL. */
export const WebhookUrlSchema = z
  .url({ protocol: /^https?$/, error: 'must be an absolute http:// or https:// URL' })
  .max(2048);

/** The name of an environment variable (upper case, digits and underscores). */
export const EnvVarNameSchema = z
  .string()
  .regex(/^[A-Z_][A-Z0-9_]{0,127}$/, 'must name an environment variable (A-Z, 0-9, _; not starting with a digit)');

const webhookFields = {
  /** Names the webhook in logs and in the delivery results; unique within its list. */
  name: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'must be 1-64 of [A-Za-z0-9._-], starting with a letter or digit'),
  url: WebhookUrlSchema,
  format: WebhookFormatSchema.default('json'),
  /** The kinds this webhook is told about (default: every kind). */
  events: z.array(NotificationKindSchema).min(1).max(NOTIFICATION_KINDS.length).optional(),
};

/** A webhook named by a plan: a `json` webhook names the environment variable holding its HMAC secret. */
export const PlanWebhookSchema = z
  .object({
    ...webhookFields,
    /** The environment variable of the worker that holds the HMAC-SHA256 secret (json format only). */
    secretEnv: EnvVarNameSchema.optional(),
  })
  .strict()
  .superRefine((hook, ctx) => {
    if (hook.format === 'json' && hook.secretEnv === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['secretEnv'],
        message: 'a json webhook needs secretEnv: the environment variable holding its secret (never the secret)',
        input: undefined,
      });
    }
    if (hook.format === 'slack' && hook.secretEnv !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['secretEnv'],
        message: 'a slack webhook is not signed (its URL is the secret): remove secretEnv',
        input: undefined,
      });
    }
  });
export type PlanWebhook = z.infer<typeof PlanWebhookSchema>;

/** A webhook of the worker's global file: like a plan's, but it may also hold its secret itself (`secret`). */
export const GlobalWebhookSchema = z
  .object({
    ...webhookFields,
    secretEnv: EnvVarNameSchema.optional(),
    /** The HMAC secret itself (the file is the worker's, kept private); at least 16 characters. */
    secret: z.string().min(16, 'must be at least 16 characters').max(1024).optional(),
  })
  .strict()
  .superRefine((hook, ctx) => {
    const given = Number(hook.secret !== undefined) + Number(hook.secretEnv !== undefined);
    if (hook.format === 'json' && given !== 1) {
      ctx.addIssue({
        code: 'custom',
        path: ['secret'],
        message: 'a json webhook needs exactly one of secret and secretEnv',
        input: undefined,
      });
    }
    if (hook.format === 'slack' && given !== 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['secret'],
        message: 'a slack webhook is not signed (its URL is the secret): remove secret and secretEnv',
        input: undefined,
      });
    }
  });
export type GlobalWebhook = z.infer<typeof GlobalWebhookSchema>;

/** A list of webhooks whose names are unique. */
function uniqueNames<T extends z.ZodType<{ name: string }>>(hook: T) {
  return z
    .array(hook)
    .max(20)
    .superRefine((hooks, ctx) => {
      hooks.forEach((h, index) => {
        const first = hooks.findIndex((other) => other.name === h.name);
        if (first !== index) {
          ctx.addIssue({
            code: 'custom',
            path: [index, 'name'],
            message: `duplicate webhook name (first at [${first}])`,
            input: undefined,
          });
        }
      });
    });
}

/** The plan's `notifications` key: the webhooks this rollout notifies (beside the worker's global ones). */
export const NotificationsSchema = z.object({ webhooks: uniqueNames(PlanWebhookSchema).min(1) }).strict();
export type Notifications = z.infer<typeof NotificationsSchema>;

/** The worker's global webhooks file: every rollout this worker runs notifies them. */
export const GlobalWebhooksFileSchema = z.object({ webhooks: uniqueNames(GlobalWebhookSchema) }).strict();
export type GlobalWebhooksFile = z.infer<typeof GlobalWebhooksFileSchema>;

/** Whether a webhook wants notifications of `kind` (no `events` list: every kind). */
export function wantsKind(hook: { events?: readonly NotificationKind[] | undefined }, kind: NotificationKind): boolean {
  return hook.events === undefined || hook.events.includes(kind);
}
