// The ingest flushes a lane at once when an offer's verdict changes. It must judge with exactly the thresholds the
// lane judges that window with, or the evidence that really tips the lane waits for the next periodic flush.
import { evaluateHealth } from '../../events/health';
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
  const lane: LaneInfo = { key: 'r\u0000phone-a', rolloutId: 'r', lane: 'phone-a', config, finished: false };
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

test('an exposure offer is judged with its window share of the false-halt budget', () => {
  const { offer } = exposureOffer();
  expect(offerThresholds(offer)).toEqual(windowThresholds(config, 'exposure'));
  expect(offerThresholds(offer)?.falseHaltProbability).toBeCloseTo(0.0025);
  expect(offerThresholds({ ...offer, thresholds: undefined, kind: 'rollback' })).toEqual(config.thresholds);
});

test('the record that tips the lane into breach is the one that makes the lane urgent', () => {
  const { lane, offer } = exposureOffer();
  const agg = new Aggregator();
  agg.registerOffer(offer);
  const laneVerdict = () => evaluateHealth(agg.totalsOf(0)!, windowThresholds(config, 'exposure')).verdict;
  const wholeLaneVerdict = () => evaluateHealth(agg.totalsOf(0)!, config.thresholds).verdict;
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
