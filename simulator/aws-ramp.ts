/**
 * An AWS IoT Jobs style rollout, modelled here (not in the engine) so `bench:exposure` can set it beside the engine's
 * schedules: `jobExecutionsRolloutConfig.exponentialRate` notifies devices at `baseRatePerMinute`, multiplying the rate
 * by `incrementFactor` each time another `numberOfNotifiedThings` devices were notified (AWS's
 * `rateIncreaseCriteria`), never above `maximumPerMinute`; `abortConfig` cancels the job once the share of failed
 * executions (failures and timeouts) among executed ones reaches `thresholdPercentage`, after at least
 * `minNumberOfExecutedThings` executed. A notified device runs the job at its next reachable check-in (the fleet's
 * physics, `time-zone-fleet.ts`); a cancel stops every execution that has not started. The abort is the plain rule
 * judged every minute, without the engine's false-halt guarantee.
 *
 * Pure and seeded: the devices are the fleet model's, notified in index order. No I/O.
 */
import type { DeviceInstall } from './lane-sim';

/** The ramp and abort settings (AWS's names, `thresholdPercentage` as a share). */
export interface AwsRampConfig {
  baseRatePerMinute: number;
  incrementFactor: number;
  numberOfNotifiedThings: number;
  maximumPerMinute: number;
  /** Abort once failed ÷ executed reaches this share… */
  abortThresholdShare: number;
  /** …with at least this many executed. */
  minNumberOfExecutedThings: number;
  /** A started execution that reports nothing for this long times out (a failure). */
  inProgressTimeoutMin: number;
}

/** What one ramp did. */
export interface AwsRampRun {
  /** Minute of the abort, or -1. */
  abortMin: number;
  /** Devices that started the install before the abort (all that started, without one). */
  exposed: number;
  /** Successful installs per minute. */
  patchedPerMin: Int32Array;
}

/**
 * Runs the ramp over `devices` devices for `horizonMin` minutes; `installOf(index, notifiedMin)` is the fleet's answer
 * for one device (null: it never starts within the horizon).
 */
export function simulateAwsRamp(
  config: AwsRampConfig,
  devices: number,
  horizonMin: number,
  installOf: (index: number, notifiedMin: number) => DeviceInstall | null,
): AwsRampRun {
  // Executions by the minute they start (end minute × 2 + 1 for a success); outcomes land when the start happens.
  const byStart: number[][] = Array.from({ length: horizonMin }, () => []);
  const successes = new Int32Array(horizonMin);
  const failures = new Int32Array(horizonMin);
  let notified = 0;
  let rate = config.baseRatePerMinute;
  let nextIncrease = config.numberOfNotifiedThings;
  let [started, executed, failed] = [0, 0, 0];
  let abortMin = -1;
  for (let minute = 0; minute < horizonMin; minute++) {
    if (abortMin < 0) {
      const batch = Math.min(devices - notified, Math.floor(rate));
      for (let i = 0; i < batch; i++) {
        const install = installOf(notified + i, minute);
        if (install === null || install.startMin >= horizonMin) continue;
        const end = install.outcome === 'silent' ? install.startMin + config.inProgressTimeoutMin : install.doneMin;
        byStart[install.startMin]!.push(end * 2 + (install.outcome === 'success' ? 1 : 0));
      }
      notified += batch;
      while (notified >= nextIncrease) {
        rate = Math.min(config.maximumPerMinute, rate * config.incrementFactor);
        nextIncrease += config.numberOfNotifiedThings;
      }
      // After a cancel, executions not yet started never start; those running finish (and still patch or fail).
      for (const code of byStart[minute]!) {
        started++;
        const end = code >>> 1;
        if (end >= horizonMin) continue;
        if ((code & 1) === 1) successes[end]!++;
        else failures[end]!++;
      }
    }
    executed += successes[minute]! + failures[minute]!;
    failed += failures[minute]!;
    if (
      abortMin < 0 &&
      executed >= config.minNumberOfExecutedThings &&
      failed >= config.abortThresholdShare * executed
    ) {
      abortMin = minute;
    }
  }
  return { abortMin, exposed: started, patchedPerMin: successes };
}
