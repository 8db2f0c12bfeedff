// The ingest flushes a lane at once when an offer's verdict changes. It must judge with exactly the thresholds the
// lane judges that window with, or the evidence that really tips the lane waits for the next periodic flush.
import { addCounts, emptyCounts, evaluateHealth } from '../../events/health';
import { evaluateHealthV1 } from '../../events/health-v1';
import { windowThresholds } from '../../events/lane';
import { laneConfigOf, validatePlan } from '../../events/plan';
import { Aggregator } from '../../ingest/aggregator';
import { offerThresholds, type LaneInfo, type OfferInfo } from '../../ingest/catalogue';

const checked = validatePlan({
  releaseId: 'rel',
  artifact: { build: '26.3.1' },
  deviceClasses: ['phone-a'],
  phases: [
    { share: 1, bake: '1h' },
    { share: 10, bake: '1h' },
    { share: 50, bake: '1h' },
    { share: 100, bake: 0 },
  ],
  thresholds: {
    maxFailureRate: 0.05,
    minSample: 20,
    installTimeoutSec: 60,
    rule: 'sequential',
    falseHaltProbability: 0.01,
  },
  breachPolicy: { action: 'pause' },
});
if (!checked.ok) throw new Error(JSON.stringify(checked.errors));
const config = laneConfigOf(checked.plan, 'phone-a');

function exposureOffer(): { lane: LaneInfo; offer: OfferInfo } {
  const lane: LaneInfo = {
    key: 'r\u0000phone-a',
    rolloutId: 'r',
    lane: 'phone-a',
    config,
    finished: false,
    exposures: [],
  };
  const offer: OfferInfo = {
    slot: 0,
    rolloutId: 'r',
    offerId: 'phone-a/p0a1',
    lane,
    kind: 'exposure',
    phase: 0,
    attempt: 1,
    cohortBound: 100,
  };
  return { lane, offer };
}

test('an exposure offer is judged with the plan thresholds (rules version 2), or its window share (version 1)', () => {
  const { offer, lane } = exposureOffer();
  expect(offerThresholds(offer)).toBe(config.thresholds);
  expect(offerThresholds({ ...offer, thresholds: undefined, kind: 'rollback' })).toEqual(config.thresholds);
  const v1 = { ...config, rulesVersion: undefined };
  const v1Offer = { ...offer, thresholds: undefined, lane: { ...lane, config: v1 } };
  expect(offerThresholds(v1Offer)).toEqual(windowThresholds(v1, 'exposure'));
  expect(offerThresholds(v1Offer)?.falseHaltProbability).toBeCloseTo(0.0025);
});

test('the record that tips the attempt into breach is the one that makes the lane urgent, across phases', () => {
  const { lane, offer } = exposureOffer();
  const phase1: OfferInfo = { ...offer, slot: 1, offerId: 'phone-a/p1a1', phase: 1, cohortBound: 1000 };
  const agg = new Aggregator();
  agg.registerOffer(offer);
  agg.registerOffer(phase1);
  // Phase 0 ends with 5 failures in 40 (not yet significant); phase 1's reports then fail at 25%.
  for (let offset = 0; offset < 40; offset++)
    agg.add(offer, 0, offset, offset < 5 ? 0 : 1, offset < 5 ? 'E_BOOT' : null, 0, 0);
  agg.takeLane(lane);
  const attempt = () => addCounts(agg.totalsOf(0)!, agg.totalsOf(1) ?? emptyCounts());
  expect(evaluateHealth(attempt(), config.thresholds).verdict).not.toBe('breach');
  let tipped: number | null = null;
  let aloneTipped: number | null = null;
  for (let offset = 40; offset < 2000 && tipped === null; offset++) {
    const failed = offset % 4 === 0;
    agg.add(phase1, 0, offset, failed ? 0 : 1, failed ? 'E_BOOT' : null, 0, 0);
    if (aloneTipped === null && evaluateHealth(agg.totalsOf(1)!, config.thresholds).verdict === 'breach') {
      aloneTipped = offset;
    }
    const urgent = agg.urgent.has(lane);
    if (evaluateHealth(attempt(), config.thresholds).verdict === 'breach') {
      tipped = offset;
      expect(urgent).toBe(true);
    }
    if (urgent) agg.takeLane(lane); // the flush the urgency triggers
  }
  expect(tipped).not.toBeNull();
  // Phase 1's window alone would tip later: judged on it, the ingest would send the tipping record only on the interval.
  expect(aloneTipped === null || aloneTipped > tipped!).toBe(true);
});

test('a rules version 1 lane is judged by its own (version 1) rules: the record that tips its window makes it urgent', () => {
  const v1 = { ...config, rulesVersion: undefined };
  const { lane: base, offer: baseOffer } = exposureOffer();
  const lane = { ...base, config: v1 };
  const offer = { ...baseOffer, lane };
  const agg = new Aggregator();
  agg.registerOffer(offer);
  const laneVerdict = () => evaluateHealthV1(agg.totalsOf(0)!, windowThresholds(v1, 'exposure')).verdict;
  const wholeLaneVerdict = () => evaluateHealthV1(agg.totalsOf(0)!, v1.thresholds).verdict;
  let looseBreachFirst: number | null = null;
  let tipped: number | null = null;
  for (let offset = 0; offset < 2000 && tipped === null; offset++) {
    const failed = offset % 4 === 0; // a 25% failure spike
    agg.add(offer, 0, offset, failed ? 0 : 1, failed ? 'E_BOOT' : null, 0, 0);
    if (looseBreachFirst === null && wholeLaneVerdict() === 'breach') looseBreachFirst = offset;
    const urgent = agg.urgent.has(lane);
    if (laneVerdict() === 'breach') {
      tipped = offset;
      expect(urgent).toBe(true);
    }
    if (urgent) agg.takeLane(lane); // the flush the urgency triggers
  }
  expect(tipped).not.toBeNull();
  // The whole-lane thresholds would have called it earlier: judged with those, the ingest would have spent its
  // urgent flush too soon and sent the tipping record only on the interval.
  expect(looseBreachFirst).not.toBeNull();
  expect(looseBreachFirst!).toBeLessThan(tipped!);
});
