// A lost lane restarted while the ingest runs (real worker, real ingest member, real Kafka and Temporal): outcomes
// that reached the ingest while the lane's workflow was gone — its deltas came back "gone" and were dropped — are
// counted by the restarted lane, exactly once, because the member replays its partitions against the new
// workflow's marks when it reads `lane-restarted`.
import { getStatus, sendOperatorCommand, startRollout } from '../../client';
import { laneStateQuery, laneWorkflowId } from '../../workflows/messages';
import { terminateWithCli } from '../support/temporal-cli';
import { uniqueName } from '../support/unique-name';
import {
  bundle,
  cohortDevices,
  groundTruth,
  laneTotals,
  produce,
  quietPlan,
  sameCounts,
  sleep,
  spawnMember,
  startWorld,
  stopMember,
  waitForTotals,
  workload,
  type World,
} from './ingest-harness';

jest.setTimeout(240_000);

const OPERATOR = { actor: 'sre-dana', reason: 'lane restart with ingest test' };
let world: World;

beforeAll(async () => {
  world = await startWorld(await bundle(), 'restart-ingest', 3);
});

afterAll(async () => {
  await world?.close();
});

test('outcomes reported while a lane was lost are counted once by the restarted lane', async () => {
  const rolloutId = uniqueName('rri');
  const lane = 'phone-a';
  await startRollout(world.client, {
    // Never breaches or passes during the test: an unreachable minimum sample.
    plan: quietPlan([lane]),
    rolloutId,
    ...OPERATOR,
    taskQueue: world.config.temporal.taskQueue,
  });
  const handle = () => world.client.workflow.getHandle(laneWorkflowId(rolloutId, lane));
  let exposure: { offerId: string; cohortBound: number } | undefined;
  for (let i = 0; i < 300 && exposure === undefined; i++) {
    const state = await handle()
      .query(laneStateQuery)
      .catch(() => undefined);
    if (state?.offerId) exposure = { offerId: state.offerId, cohortBound: state.cohortBound };
    else await sleep(100);
  }
  if (exposure === undefined) throw new Error('the lane did not expose within 30 s');
  const { offerId, cohortBound } = exposure;
  const devices = cohortDevices(rolloutId, cohortBound, 600);
  const before = workload(rolloutId, lane, offerId, devices.slice(0, 300), 11);
  const during = workload(rolloutId, lane, offerId, devices.slice(300), 12);

  const member = spawnMember(world, { LOG_LEVEL: 'info' });
  try {
    await member.started;
    await produce(world, before, { chunk: 200, pauseMs: 50 });
    expect(await waitForTotals(world, rolloutId, lane, offerId, groundTruth(before))).toEqual(
      expect.objectContaining({ succeeded: groundTruth(before).succeeded }),
    );

    await terminateWithCli(laneWorkflowId(rolloutId, lane), 'terminated by mistake');
    for (let i = 0; i < 120; i++) {
      const view = (await getStatus(world.client, rolloutId)).lanes[0];
      if (view?.lost) break;
      await sleep(250);
    }
    // Reported while the lane is gone: the member's signals come back "gone" and it drops those deltas.
    await produce(world, during, { chunk: 200, pauseMs: 50 });
    await sleep(3000);
    expect(member.output.join('')).toMatch(/lane workflow gone: deltas dropped/);

    await sendOperatorCommand(world.client, rolloutId, { type: 'restart', lane, ...OPERATOR });
    const all = groundTruth([...before, ...during]);
    const totals = await waitForTotals(world, rolloutId, lane, offerId, all, 90_000);
    expect(totals).toEqual(all);
    // And nothing is counted twice later (a second replay, a late signal).
    await sleep(3000);
    const after = await laneTotals(world, rolloutId, lane, offerId);
    expect(after !== undefined && sameCounts(after, all)).toBe(true);
  } finally {
    await stopMember(member, 'SIGTERM');
  }
});
