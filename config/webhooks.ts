/**
 * The worker's global webhooks: every rollout the worker runs notifies them, beside the webhooks its plan names.
 * `BSI_WEBHOOKS_FILE` names a YAML or JSON file (`{ webhooks: [...] }`, see `GlobalWebhookSchema`) that the worker
 * reads once at start-up; `parseGlobalWebhooks` validates its text and throws `ConfigError` naming each problem
 * (path, rule), so a bad file stops the worker before it takes any work. Pure: the worker reads the file.
 */
import YAML from 'yaml';
import { GlobalWebhooksFileSchema, type GlobalWebhook } from '../events/webhook-config';
import { formatPath } from '../events/plan';
import { ConfigError } from './env';

/** The environment variable naming the global webhooks file. */
export const WEBHOOKS_FILE_ENV = 'BSI_WEBHOOKS_FILE';

/**
 * Parses and validates the text of a global webhooks file (YAML, of which JSON is a subset). `source` names the file
 * in the error. Throws `ConfigError` listing every problem: a syntax error, a missing or unknown key, a URL that is
 * not http(s), a json webhook with no secret, a duplicate name.
 */
export function parseGlobalWebhooks(text: string, source: string): GlobalWebhook[] {
  let data: unknown;
  try {
    data = YAML.parse(text);
  } catch (err) {
    throw new ConfigError([`${WEBHOOKS_FILE_ENV}=${source}: not YAML or JSON: ${(err as Error).message}`]);
  }
  const parsed = GlobalWebhooksFileSchema.safeParse(data);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => `${WEBHOOKS_FILE_ENV}=${source}: ${formatPath(issue.path)}: ${issue.message}`),
    );
  }
  return parsed.data.webhooks;
}
