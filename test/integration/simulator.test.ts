// The fleet simulator as a real Kafka client: an order on the commands topic makes the addressed devices report on
// the install-events topic, and what they report matches the simulator's ground truth.
import { loadConfig, type Config } from '../../config/env';
import { FleetCommandSchema, type FleetCommand } from '../../events/fleet-commands';
import { InstallEventSchema, type InstallEvent } from '../../events/install-event';
import { createLogger } from '../../observability/log';
import { FleetSimulator } from '../../simulator/fleet-simulator';
import { ScenarioSchema } from '../../simulator/scenario';
import { testKafka } from '../support/endpoints';
import { uniqueName } from '../support/unique-name';

jest.setTimeout(90_000);

const scenario = ScenarioSchema.parse({
  seed: 11,
  defaults: {
    failureRate: 0.05,
    errorCodes: { E_DISK_FULL: 1 },
    silentRate: 0.01,
    duplicateRate: 0.02,
    reorderRate: 0.02,
    rollbackSuccessRate: 1,
    checkInDelaySec: { median: 0.2, max: 0.5 },
    installDurationSec: { median: 0.3, max: 0.8 },
    rollbackDurationSec: { median: 0.1, max: 0.3 },
  },
  classes: { 'phone-a': { devices: 3000 } },
});

function freshConfig(): Config {
  const base = loadConfig(process.env);
  return {
    ...base,
    topics: {
      rolloutEvents: uniqueName('sim-events'),
      commands: uniqueName('sim-commands'),
      installEvents: uniqueName('sim-installs'),
      installEventsDlq: uniqueName('sim-dlq'),
      partitions: 3,
    },
  };
}

const expose: FleetCommand = FleetCommandSchema.parse({
  schemaVersion: 1,
  orderId: 'r-sim/phone-a/3',
  kind: 'expose',
  rolloutId: 'r-sim',
  lane: 'phone-a',
  releaseId: 'rel-1',
  artifact: { build: '26.3.1' },
  offerId: 'r-sim/phone-a/p0/a1',
  attempt: 1,
  phase: 0,
  cohortBound: 2000,
  issuedAt: '2026-11-27T00:00:00Z',
});

test('an expose order makes exactly the addressed devices report, as the ground truth says', async () => {
  const config = freshConfig();
  const simulator = new FleetSimulator({
    config,
    scenario,
    logger: createLogger('simulator', 'silent'),
    groupId: uniqueName('sim'),
  });
  await simulator.start();
  const kafka = testKafka('simulator-test');
  const producer = kafka.producer();
  await producer.connect();
  // Sent twice: a republished order (activity retried) must not make devices report twice.
  await producer.send({
    topic: config.topics.commands,
    messages: [{ key: 'r-sim/phone-a', value: JSON.stringify(expose) }],
  });
  await producer.send({
    topic: config.topics.commands,
    messages: [{ key: 'r-sim/phone-a', value: JSON.stringify(expose) }],
  });
  await producer.send({
    topic: config.topics.commands,
    messages: [{ key: 'r-sim/phone-a', value: '{"not":"an order"}' }],
  });
  await producer.disconnect();

  const deadline = Date.now() + 30_000;
  while (simulator.currentStats().ordersRejected < 1 || simulator.currentStats().reportsSent === 0) {
    if (Date.now() > deadline) throw new Error('simulator did not react');
    await new Promise((r) => setTimeout(r, 100));
  }
  expect(await simulator.drained(30_000)).toBe(true);
  const stats = simulator.currentStats();
  const truth = simulator.truthOf('r-sim')[expose.offerId];
  await simulator.stop();
  expect(stats.ordersApplied).toBe(1);
  expect(stats.ordersRejected).toBe(1);

  const consumer = kafka.consumer({ groupId: uniqueName('sim-reader') });
  await consumer.connect();
  await consumer.subscribe({ topic: config.topics.installEvents, fromBeginning: true });
  const received: InstallEvent[] = [];
  await consumer.run({
    eachMessage: async ({ message }) => {
      received.push(InstallEventSchema.parse(JSON.parse(message.value?.toString() ?? '')));
      return Promise.resolve();
    },
  });
  while (received.length < stats.reportsSent && Date.now() < deadline + 30_000)
    await new Promise((r) => setTimeout(r, 100));
  await consumer.disconnect();

  expect(received).toHaveLength(stats.reportsSent);
  const unique = new Map(received.map((e) => [e.eventId, e]));
  const finals = [...unique.values()].filter((e) => e.type === 'succeeded' || e.type === 'failed');
  const started = new Set([...unique.values()].filter((e) => e.type === 'install-started').map((e) => e.deviceId));
  expect(received.length).toBeGreaterThan(unique.size); // some duplicates were sent
  expect(finals.filter((e) => e.type === 'succeeded')).toHaveLength(truth?.succeeded ?? -1);
  expect(finals.filter((e) => e.type === 'failed')).toHaveLength(truth?.failedByCode.E_DISK_FULL ?? -1);
  expect(started.size - finals.length).toBe(truth?.silent);
  expect(started.size).toBe(truth?.reacted);
});
