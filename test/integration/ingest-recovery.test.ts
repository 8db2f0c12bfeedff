// Exactly-once in effect on the real servers: the real LaneWorkflow's counts equal the ground truth of
// what the test produced after the ingest is SIGKILLed mid-stream and restarted, after a second member
// joins and one leaves (rebalances), and across a Kafka broker restart.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { WorkflowBundle } from '@temporalio/worker';
import { restartKafka } from '../../scripts/servers/index';
import { uniqueName } from '../support/unique-name';
import {
  bundle,
  cohortDevices,
  groundTruth,
  laneTotals,
  produce,
  sleep,
  spawnMember,
  startLane,
  startWorld,
  stopMember,
  waitForTotals,
  workload,
  type World,
} from './ingest-harness';

jest.setTimeout(180_000);

let workflowBundle: WorkflowBundle;
beforeAll(async () => {
  workflowBundle = await bundle();
}, 120_000);

let world: World | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

async function scenario(prefix: string, devices: number, seed: number) {
  world = await startWorld(workflowBundle, prefix);
  const rolloutId = uniqueName(`r-${prefix}`);
  const lane = 'phone-a';
  const { offerId, cohortBound } = await startLane(world, rolloutId, lane);
  const ids = cohortDevices(rolloutId, cohortBound, devices);
  const events = workload(rolloutId, lane, offerId, ids, seed);
  return { world, rolloutId, lane, offerId, events, expected: groundTruth(events) };
}

async function expectExact(
  w: World,
  rolloutId: string,
  lane: string,
  offerId: string,
  expected: ReturnType<typeof groundTruth>,
) {
  const totals = await waitForTotals(w, rolloutId, lane, offerId, expected, 90_000);
  expect(totals).toEqual(
    expect.objectContaining({ succeeded: expected.succeeded, timedOut: 0, inProgress: expected.inProgress }),
  );
  expect(totals?.failedByCode).toEqual(expected.failedByCode);
  // Nothing arrives twice later (a redelivered signal or a replay past the marks would show here).
  await sleep(2000);
  expect(await laneTotals(w, rolloutId, lane, offerId)).toEqual(totals);
}

/** Writes a member's output under out/test-logs/ (the CI log shows where). */
function keepOutput(name: string, output: readonly string[]): void {
  const file = path.join(__dirname, '..', '..', 'out', 'test-logs', `${name}-${Date.now()}.log`);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, output.join(''));
  process.stderr.write(`member output kept in ${file}\n`);
}

test('SIGKILL mid-stream and restart: lane counts equal the ground truth exactly', async () => {
  const s = await scenario('ingest-kill', 4000, 1);
  const first = spawnMember(s.world);
  await first.started;
  await produce(s.world, s.events, {
    chunk: 400,
    pauseMs: 100,
    onChunk: async (c) => {
      if (c === 14) await stopMember(first, 'SIGKILL');
    },
  });
  // Some of the stream was counted before the kill, not all of it.
  const partial = await laneTotals(s.world, s.rolloutId, s.lane, s.offerId);
  expect(partial === undefined || partial.succeeded < s.expected.succeeded).toBe(true);
  const second = spawnMember(s.world);
  try {
    await expectExact(s.world, s.rolloutId, s.lane, s.offerId, s.expected);
  } finally {
    await stopMember(second, 'SIGTERM');
  }
});

test('two members, a rebalance when one joins and another when one is killed: exact counts', async () => {
  const s = await scenario('ingest-scale', 4000, 2);
  const a = spawnMember(s.world);
  await a.started;
  const b = spawnMember(s.world);
  try {
    await produce(s.world, s.events, {
      chunk: 400,
      pauseMs: 120,
      onChunk: async (c) => {
        if (c === 5) await b.started; // b joins: rebalance, partitions split
        if (c === 16) await stopMember(a, 'SIGKILL'); // a dies: its partitions move to b
      },
    });
    await expectExact(s.world, s.rolloutId, s.lane, s.offerId, s.expected);
  } finally {
    await stopMember(a, 'SIGKILL');
    await stopMember(b, 'SIGTERM');
  }
});

test('a Kafka broker restart mid-stream loses nothing and counts nothing twice', async () => {
  const s = await scenario('ingest-broker', 3000, 3);
  const member = spawnMember(s.world);
  await member.started;
  try {
    const half = Math.floor(s.events.length / 2);
    await produce(s.world, s.events.slice(0, half), { chunk: 400, pauseMs: 50 });
    const restarted = await restartKafka();
    // restartKafka only restarts a broker this clone started (its pid file under BSI_DATA_DIR, default .data/); any
    // other broker it leaves alone, and this test would then prove nothing.
    if (restarted.state !== 'started') {
      throw new Error(
        `the broker was not restarted (${restarted.state}): run from the clone that started it, or set BSI_DATA_DIR ` +
          'to that clone’s data directory',
      );
    }
    await produce(s.world, s.events.slice(half), { chunk: 400, pauseMs: 50 });
    await expectExact(s.world, s.rolloutId, s.lane, s.offerId, s.expected);
  } catch (err) {
    // Keep the member's own log for the diagnosis. This test used to fail about one run in five under load (issue
    // #13, stalled at 669 of 2,534 successes): while the broker shuts down, kafkajs's rejoin can fail with
    // KafkaJSGroupCoordinatorNotFound, which it does not restart from, and the member stayed down until
    // ResilientConsumer replaced such consumers.
    keepOutput('ingest-recovery-broker-restart', member.output);
    throw err;
  } finally {
    await stopMember(member, 'SIGTERM');
  }
}, 300_000);
