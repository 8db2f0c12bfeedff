/**
 * Entry point of the ingest service: `rollout ingest` (or `node dist/ingest/main.js`). Reads config from the environment
 * (`config/env.ts` for Kafka, Temporal and topics; `ingest/settings.ts` for INGEST_*), provisions the
 * topics if missing, serves metrics, and runs one consumer-group member until SIGTERM/SIGINT, then stops
 * gracefully: stop consuming, finish the batch, deliver pending deltas, commit, disconnect, close Temporal.
 */
import { loadConfig } from '../config/env';
import { createKafka } from '../kafka/client';
import { ensureTopics, topicSpecs } from '../kafka/topics';
import { createLogger } from '../observability/log';
import { connectClient } from '../temporal/connection';
import { deviceKeySecret } from './device-key-secret';
import { DeviceKeys } from '../events/device-keys';
import { createMetrics, serveMetrics } from './metrics';
import { IngestService } from './service';
import { loadIngestSettings } from './settings';
import { createSignaler } from './signaler';

/** Starts the ingest and resolves when it has stopped after a signal. */
export async function main(): Promise<void> {
  const log = createLogger('ingest');
  const config = loadConfig(process.env);
  const settings = loadIngestSettings(process.env);
  const kafka = createKafka(config.kafka, { clientId: `${config.kafka.clientId}-ingest` });
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, topicSpecs(config.topics));
  await admin.disconnect();

  const keySecret = deviceKeySecret(config.deviceKeys);
  log.info({ source: keySecret.source, file: keySecret.file }, 'device-key secret');
  const client = await connectClient(config.temporal);
  const metrics = createMetrics();
  const service = new IngestService({
    kafka,
    topics: config.topics,
    settings,
    deviceKeys: new DeviceKeys(keySecret.secret),
    signaler: createSignaler(client),
    metrics,
    log,
  });
  const { server, port } = await serveMetrics(metrics, settings.metricsPort, () => service.healthy());
  log.info({ port }, 'metrics listening');
  // Tests and supervisors read this line to find a random port.
  process.stdout.write(`${JSON.stringify({ ingest: 'metrics', port })}\n`);

  await service.start();
  process.stdout.write(`${JSON.stringify({ ingest: 'started' })}\n`);
  const stopped = new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, 'stopping');
      service
        .stop()
        .catch((err: unknown) => log.error({ err }, 'error while stopping'))
        .finally(resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  const liveTimer = setInterval(() => {
    if (service.isLive()) {
      process.stdout.write(`${JSON.stringify({ ingest: 'live' })}\n`);
      clearInterval(liveTimer);
    }
  }, 100);
  await stopped;
  clearInterval(liveTimer);
  server.close();
  await client.connection.close();
  // Everything is delivered, committed and closed; stray client timers (kafkajs reconnects) must not keep
  // a stopped member alive.
  process.exit(0);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    createLogger('ingest').fatal({ err }, 'ingest failed');
    process.exit(1);
  });
}
