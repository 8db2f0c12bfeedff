/**
 * Reads the worker's global webhooks file at start-up (`BSI_WEBHOOKS_FILE`, validated by `config/webhooks.ts`): none
 * when the variable is unset, a `ConfigError` naming the file when it cannot be read or does not validate.
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from '../config/env';
import { WEBHOOKS_FILE_ENV, parseGlobalWebhooks } from '../config/webhooks';
import type { GlobalWebhook } from '../events/webhook-config';

/** The global webhooks `env` names (none when `BSI_WEBHOOKS_FILE` is unset or empty). */
export function readGlobalWebhooks(env: Readonly<Record<string, string | undefined>>): GlobalWebhook[] {
  const file = env[WEBHOOKS_FILE_ENV];
  if (file === undefined || file === '') return [];
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([`${WEBHOOKS_FILE_ENV}=${file}: cannot read the file: ${(err as Error).message}`]);
  }
  return parseGlobalWebhooks(text, file);
}
