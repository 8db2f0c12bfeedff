// The short form of the chaos suite (`make chaos` runs the full one): on a small fleet, one rollout whose worker is
// SIGKILLed mid-bake and whose ingest member is SIGKILLed mid-stream, both restarted. The lanes must end as an
// undisturbed run ends, every offer's counts must equal the simulator's ground truth (nothing lost, nothing
// counted twice), no order may expose beyond its phase, and a repeated order must be acted on once.
import { runChaos, shortScenarios } from '../../chaos/scenarios';

jest.setTimeout(420_000);

test('worker and ingest SIGKILLed mid-rollout: same outcomes, exact counts, bounded exposure', async () => {
  const lines: string[] = [];
  const totals = await runChaos({
    scenarios: shortScenarios(),
    devicesPerClass: 1500,
    seed: 20261127,
    log: (line) => lines.push(line),
  });
  const failures = totals.results.flatMap((r) => r.check.failures);
  expect({ failures, log: failures.length > 0 ? lines : [] }).toEqual({ failures: [], log: [] });
  expect(totals.passed).toBe(1);
  expect(totals.faultsInjected).toBe(2);
  expect(totals.eventsChecked).toBeGreaterThan(3000);
  expect(totals.eventsLost).toBe(0);
  expect(totals.doubleCounts).toBe(0);
});
