/**
 * What a CLI command needs from the outside world, opened lazily and closed once: configuration from
 * the environment, the Temporal client and the Kafka client, or the HTTP API when `ROLLOUT_API_URL` names one. Connection failures become
 * `UnreachableError`s that name the address and how to start the local servers. The client libraries themselves
 * are loaded on first use too (a few hundred milliseconds of `require`), so a command that needs neither, such as
 * `validate`, does not pay for them.
 */
import { userInfo } from 'node:os';
import type { Client } from '@temporalio/client';
import { loadConfig, type Config } from '../config/env';
import type * as KafkaClientModule from '../kafka/client';
import type { Kafka } from '../kafka/client';
import type * as TemporalConnectionModule from '../temporal/connection';
import { apiClientFromEnv, type ApiClient } from './api-client';
import { isTemporalUnreachable, UnreachableError } from './errors';

/** The CLI's lazily opened resources. Call `close()` when the command is done. */
export class CliContext {
  readonly config: Config;
  /** The HTTP API to go through (`ROLLOUT_API_URL` + `ROLLOUT_API_TOKEN`), or undefined: straight to Temporal. */
  readonly api: ApiClient | undefined;
  private temporal: Client | undefined;
  private kafkaClient: Kafka | undefined;

  constructor(env: Readonly<Record<string, string | undefined>> = process.env) {
    this.config = loadConfig(env);
    this.api = apiClientFromEnv(env);
  }

  /** The Temporal client, connected on first use. */
  async client(): Promise<Client> {
    if (!this.temporal) {
      try {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const { connectClient } = require('../temporal/connection') as typeof TemporalConnectionModule;
        this.temporal = await connectClient(this.config.temporal);
        // A connection succeeds lazily on some transports: ask the server something cheap to be sure.
        await this.temporal.workflowService.getSystemInfo({});
      } catch (err) {
        if (isTemporalUnreachable(err)) throw new UnreachableError('Temporal', this.config.temporal.address, err);
        throw err;
      }
    }
    return this.temporal;
  }

  /** The Kafka client (connections are opened by the consumers and producers made from it). */
  kafka(): Kafka {
    if (!this.kafkaClient) {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { createKafka } = require('../kafka/client') as typeof KafkaClientModule;
      this.kafkaClient = createKafka(this.config.kafka, { clientId: 'bsi-rollout-cli' });
    }
    return this.kafkaClient;
  }

  /** Closes whatever was opened. */
  async close(): Promise<void> {
    await this.temporal?.connection.close();
  }
}

/** The default actor: the OS user running the command. */
export function defaultActor(): string {
  try {
    return userInfo().username || 'unknown';
  } catch {
    return process.env.USER ?? 'unknown';
  }
}
