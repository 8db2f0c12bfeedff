// The lane config the decider's specifications start from: class phone-a of release bsi-26.3 (build 26.3.1), phases
// 1 % / 10 % (a manual gate) / 100 % baking 60 s, 60 s and 0, the plain rule at 10 % failures after 10 outcomes,
// pause on a breach, rules version 2. Each test overrides only what it is about (its phases, pacing, completion…).
import type { LaneConfig } from '../../events/plan';

export const TEST_LANE = 'phone-a';

export function testLaneConfig(overrides: Partial<LaneConfig> = {}): LaneConfig {
  return {
    deviceClass: TEST_LANE,
    releaseId: 'bsi-26.3',
    artifact: { build: '26.3.1' },
    phases: [
      { share: 1, cohortBound: 100, bakeSec: 60, approval: 'none' },
      { share: 10, cohortBound: 1000, bakeSec: 60, approval: 'manual' },
      { share: 100, cohortBound: 10000, bakeSec: 0, approval: 'none' },
    ],
    thresholds: {
      maxFailureRate: 0.1,
      minSample: 10,
      installTimeoutSec: 600,
      errorCodes: { ignore: [], criteria: [] },
      rule: 'plain',
      falseHaltProbability: 0.01,
    },
    breachPolicy: { action: 'pause' },
    rollbackTimeoutSec: 120,
    rulesVersion: 2,
    ...overrides,
  };
}
