// Jest global setup of the integration project. Default: the local servers (make servers-up) — only check that they
// answer and say how to start them if not; the tests themselves then fail. TEST_SERVERS=testcontainers: start
// containers and point the tests at them through KAFKA_BROKERS / TEMPORAL_ADDRESS (test workers inherit the env).
import { kafkaAnswers, temporalAnswers } from '../../scripts/servers/index';
import { staleBuildProblem } from './build-freshness';
import { endpoints } from './endpoints';
import type { StartedContainers } from './testcontainers';
import { startContainers } from './testcontainers';

/** Where global setup leaves the containers for global teardown (both run in Jest's parent process). */
export const containersSlot = globalThis as { __bsiContainers?: StartedContainers };

/** Runs once before the integration tests. */
export default async function globalSetup(): Promise<void> {
  const stale = staleBuildProblem();
  if (stale !== undefined) {
    throw new Error(
      `[integration] ${stale}: run \`npm run build\` first (make test does). The tests start the engine's ` +
        'processes from the compiled build in dist/.',
    );
  }
  if (process.env.TEST_SERVERS === 'testcontainers') {
    const containers = await startContainers(endpoints().temporal.namespace);
    process.env.KAFKA_BROKERS = containers.kafkaBrokers;
    process.env.TEMPORAL_ADDRESS = containers.temporalAddress;
    process.env.TEMPORAL_UI_URL = containers.temporalUiUrl;
    containersSlot.__bsiContainers = containers;
    console.log(`\n[integration] containers: Kafka ${containers.kafkaBrokers}, Temporal ${containers.temporalAddress}`);
    return;
  }
  const { kafka, temporal } = endpoints();
  const [kafkaUp, temporalUp] = await Promise.all([
    kafkaAnswers(kafka.brokers),
    temporalAnswers(temporal.address, temporal.namespace),
  ]);
  const missing = [
    kafkaUp ? undefined : `Kafka at ${kafka.brokers.join(',')}`,
    temporalUp ? undefined : `Temporal at ${temporal.address}`,
  ].filter(Boolean);
  if (missing.length > 0) {
    console.warn(
      `\n[integration] ${missing.join(' and ')} not answering: start them with \`make servers-up\` ` +
        '(or set KAFKA_BROKERS / TEMPORAL_ADDRESS). Tests that need them will fail.',
    );
  }
}
