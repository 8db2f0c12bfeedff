/** The pacing keys of a plan: rate limits, the fleet rate and maintenance windows, what each lane records, and errors. */
import { type PlanError, laneConfigOf, validatePlan } from './plan';

const minimal = {
  releaseId: 'bsi-26.3',
  artifact: { build: '26.3.1' },
  deviceClasses: ['phone-a', 'laptop-x1'],
  phases: [
    { share: 1, bake: '30s' },
    { share: 100, bake: '10m' },
  ],
  thresholds: { maxFailureRate: 0.05, minSample: 100, installTimeoutSec: 1800 },
  breachPolicy: { action: 'pause' },
};
const sized = {
  'phone-a': { completion: { expectedDevices: 300_000 } },
  'laptop-x1': { completion: { expectedDevices: 100_000 } },
};

function planOf(input: unknown) {
  const result = validatePlan(input);
  if (!result.ok) throw new Error(JSON.stringify(result.errors));
  return result.plan;
}
function errorsOf(input: unknown): PlanError[] {
  const result = validatePlan(input);
  if (result.ok) throw new Error('expected the plan to be refused');
  return result.errors;
}

describe('plan: pacing keys', () => {
  test('a plan without them gives lane configs without them (a lane decides as it always did)', () => {
    const config = laneConfigOf(planOf(minimal), 'phone-a');
    expect(config).not.toHaveProperty('pacing');
    expect(config).not.toHaveProperty('maintenanceWindows');
  });

  test('a plain rate: base and cap are the rate, with the class size from completion.expectedDevices', () => {
    const plan = planOf({ ...minimal, rateLimit: { maxPerMinute: 500 }, classes: sized });
    expect(laneConfigOf(plan, 'phone-a').pacing).toEqual({
      classSize: 300_000,
      baseRatePerMinute: 500,
      maxPerMinute: 500,
    });
  });

  test("AWS IoT Jobs' exponential rate, overridden per class", () => {
    const plan = planOf({
      ...minimal,
      rateLimit: { maxPerMinute: 500 },
      classes: {
        ...sized,
        'laptop-x1': {
          ...sized['laptop-x1'],
          rateLimit: {
            baseRatePerMinute: 50,
            incrementFactor: 2,
            rateIncreaseCriteria: { numberOfSucceededThings: 1000 },
            maximumPerMinute: 800,
          },
        },
      },
    });
    expect(laneConfigOf(plan, 'laptop-x1').pacing).toEqual({
      classSize: 100_000,
      baseRatePerMinute: 50,
      maxPerMinute: 800,
      ramp: { factor: 2, every: 1000, counting: 'succeeded' },
    });
  });

  test('the fleet rate is split by class size once, at lane start, and caps each class rate', () => {
    const plan = planOf({
      ...minimal,
      rateLimit: { maxPerMinute: 500 },
      fleetRateLimit: { maxPerMinute: 400 },
      classes: sized,
    });
    expect(laneConfigOf(plan, 'phone-a').pacing).toMatchObject({
      maxPerMinute: 300,
      baseRatePerMinute: 300,
      fleetMaxPerMinute: 400,
    });
    expect(laneConfigOf(plan, 'laptop-x1').pacing).toMatchObject({ maxPerMinute: 100, fleetMaxPerMinute: 400 });
  });

  test('a rate limit without the class size is refused with where to give it', () => {
    const errors = errorsOf({ ...minimal, rateLimit: { maxPerMinute: 500 }, classes: { 'phone-a': sized['phone-a'] } });
    expect(errors).toEqual([
      expect.objectContaining({
        path: 'classes.laptop-x1.completion.expectedDevices',
        rule: expect.stringMatching(/required under a rate limit/),
      }),
    ]);
  });

  test('a bad ramp is refused: factor out of AWS range, base above the maximum, two criteria', () => {
    const bad = (rateLimit: unknown) => errorsOf({ ...minimal, rateLimit, classes: sized });
    expect(
      bad({
        baseRatePerMinute: 50,
        incrementFactor: 7,
        rateIncreaseCriteria: { numberOfNotifiedThings: 10 },
        maximumPerMinute: 100,
      }),
    ).not.toEqual([]);
    expect(
      bad({
        baseRatePerMinute: 500,
        incrementFactor: 2,
        rateIncreaseCriteria: { numberOfNotifiedThings: 10 },
        maximumPerMinute: 100,
      }),
    ).not.toEqual([]);
    expect(bad({ maxPerMinute: 0 })).not.toEqual([]);
    expect(
      bad({
        baseRatePerMinute: 50,
        incrementFactor: 2,
        rateIncreaseCriteria: { numberOfNotifiedThings: 10, numberOfSucceededThings: 10 },
        maximumPerMinute: 100,
      }),
    ).not.toEqual([]);
  });

  test('maintenance windows: the class override replaces the plan default; an unknown zone is refused', () => {
    const berlin = { timeZone: 'Europe/Berlin', windows: [{ days: ['mon'], start: '01:00', end: '05:00' }] };
    const kolkata = { timeZone: 'Asia/Kolkata', windows: [{ days: ['sat', 'sun'], start: '22:00', end: '02:00' }] };
    const plan = planOf({
      ...minimal,
      maintenanceWindows: berlin,
      classes: { 'laptop-x1': { maintenanceWindows: kolkata } },
    });
    expect(laneConfigOf(plan, 'phone-a').maintenanceWindows).toEqual(berlin);
    expect(laneConfigOf(plan, 'laptop-x1').maintenanceWindows).toEqual(kolkata);
    expect(laneConfigOf(plan, 'phone-a')).not.toHaveProperty('pacing');
    const errors = errorsOf({ ...minimal, maintenanceWindows: { ...berlin, timeZone: 'Europe/Berln' } });
    expect(errors).toEqual([
      {
        path: 'maintenanceWindows.timeZone',
        value: 'Europe/Berln',
        rule: 'unknown time zone "Europe/Berln": give an IANA name such as Europe/Berlin',
      },
    ]);
  });
});
