// What the console says in plain words: rates, counts, what a lane waits for, a verdict, an event of the log. Each
// function takes the API's JSON (the status view of client/index.ts, the domain events of events/) and falls back
// to what older servers send when a newer field is absent.

/** A rate (0..1) as a percentage with two decimals, or an em dash. */
export function pct(rate) {
  return typeof rate === 'number' && Number.isFinite(rate) ? `${(rate * 100).toFixed(2)}%` : '—';
}

/** A time as the local clock shows it. */
export function clock(iso) {
  return iso ? new Date(iso).toLocaleTimeString() : '—';
}

/** "in 12 s" / "3 s ago" from now to `iso`. */
export function relative(iso, now) {
  const s = Math.round((Date.parse(iso) - now) / 1000);
  if (!Number.isFinite(s)) return '';
  return s >= 0 ? `in ${s} s` : `${-s} s ago`;
}

/** Failures (every failed code plus timeouts) and the sample of outcome counts (final outcomes only). */
export function failuresOf(counts) {
  const failed = Object.values(counts?.failedByCode ?? {}).reduce((a, b) => a + b, 0);
  const timedOut = counts?.timedOut ?? 0;
  const succeeded = counts?.succeeded ?? 0;
  return { succeeded, failed, timedOut, failures: failed + timedOut, sample: succeeded + failed + timedOut };
}

/** The class's total failure rate as the engine judges it (`totalFailureRate` of the status view). */
export function totalRate(lane) {
  return { rate: lane.totalFailureRate, how: 'as judged' };
}

/** Which window the lane judges now, in the engine's words (`windowLabel` of the status view). */
export function windowLabel(lane) {
  return lane.windowLabel;
}

/** What the lane waits for, and until when, as a sentence. */
export function waitingText(lane, now) {
  const w = lane.waitingFor;
  if (!w) return lane.status === 'running' ? 'nothing: it moves on as evidence arrives' : 'nothing (finished)';
  switch (w.kind) {
    case 'bake':
      if (w.maxUntil !== undefined) {
        return `the minimum bake of phase ${w.phase + 1} to end at ${clock(w.until)} (${relative(w.until, now)}); proven health then ends the phase, or its bake at ${clock(w.maxUntil)}`;
      }
      if (w.minUntil !== undefined) {
        return `proven health of phase ${w.phase + 1}, or the bake's end at ${clock(w.until)} (${relative(w.until, now)})`;
      }
      return `the bake of phase ${w.phase + 1} to end at ${clock(w.until)} (${relative(w.until, now)})`;
    case 'approval':
      return `a manual approval before phase ${w.phase + 1} starts`;
    case 'evidence':
      return `more evidence for phase ${w.phase + 1}: its bake is over, and too little evidence never passes a phase`;
    case 'operator':
      return `an operator${lane.pausedBy ? ` (paused by ${lane.pausedBy})` : ''}: resume, retry, roll back or abort`;
    case 'retry-backoff':
      return `attempt ${w.attempt} to go out at ${clock(w.until)} (${relative(w.until, now)})`;
    case 'rollback':
      return `the rollback to finish, at the latest ${clock(w.until)} (${relative(w.until, now)})`;
    case 'patching':
      return `${pct(w.patchedShare)} of the class to report success, or the completion deadline at ${clock(w.until)} (${relative(w.until, now)})`;
    case 'watch':
      return `the devices of phase ${w.phase + 1} to be watched for post-install regressions until ${clock(w.until)} (${relative(w.until, now)})`;
    case 'step':
      return `the next rate step of phase ${w.phase + 1} at ${clock(w.until)} (${relative(w.until, now)}): offered ${(w.cohortBound / 100).toFixed(2)}% of ${(w.targetBound / 100).toFixed(2)}%`;
    case 'window':
      return `the maintenance window to open at ${clock(w.until)} (${relative(w.until, now)}): the ${w.holds === 'step' ? 'next step' : 'offer'} of phase ${w.phase + 1} is held until then`;
    default:
      return JSON.stringify(w);
  }
}

const VERDICTS = {
  healthy: 'Healthy: the failures so far are within the threshold',
  'insufficient-evidence': 'Not enough evidence yet to pass or halt',
  breach: 'Breach: failures significantly above the threshold',
};

/**
 * Whether the card leads with the class's last breach rather than the verdict of the window judged now: a class rolled
 * back (or rolling back) after a breach, whose rollback window's verdict says nothing about the build, and a class
 * paused by a breach. The same rule as `rollout status` (cli/status-view.ts, `showsBreach`).
 */
export function showsBreach(lane, breach) {
  if (breach === null) return false;
  return lane.status === 'rolling-back' || lane.status === 'rolled-back' || lane.pausedBy === 'breach';
}

/** The verdict on the window being judged, in words. */
export function verdictText(lane) {
  if (lane.verdict === null || lane.verdict === undefined) return 'No verdict yet (no outcome reported)';
  return VERDICTS[lane.verdict] ?? lane.verdict;
}

/** The rate and threshold a breach's evidence names: the criterion that fired when one did, else the lane's. */
function breachFigures(evidence) {
  const criterion = evidence.breachedBy ? evidence.criteria?.find((c) => c.name === evidence.breachedBy) : undefined;
  return criterion
    ? { failureRate: criterion.failureRate, maxFailureRate: criterion.threshold, criterion: criterion.name }
    : { failureRate: evidence.failureRate, maxFailureRate: evidence.threshold, criterion: undefined };
}

/** A rate ratio as people read it: `2.10×`, or `—` when there is none (no control event). */
function ratio(x) {
  return typeof x === 'number' && Number.isFinite(x) ? `${x.toFixed(2)}×` : '—';
}

/** The lane's last breach (`lastBreach` of the status view), null when it never breached. */
export function lastBreachOf(lane) {
  return lane.lastBreach;
}

/**
 * The schedule of a rollout status in one sentence (`view.schedule`: when it starts, ends and how; how it ended), or
 * null when the plan has none.
 */
export function scheduleText(view, now) {
  const s = view.schedule;
  if (!s) return null;
  if (s.ended) {
    return s.ended.endBehavior === 'cancel'
      ? `The schedule ended at ${clock(s.ended.at)}: the rollout was cancelled.`
      : `The schedule ended at ${clock(s.ended.at)}: ${(s.ended.stopLanes ?? []).join(', ') || 'no class'} stopped (no new cohort).`;
  }
  const end = s.endAt ? ` At ${clock(s.endAt)} it ${s.endBehavior === 'cancel' ? 'cancels' : 'stops'}.` : '';
  if (view.status === 'running' && s.waitUntil) {
    return `Scheduled: starts at ${clock(s.waitUntil)} (${relative(s.waitUntil, now)}); it may be aborted meanwhile.${end}`;
  }
  return end ? end.trim() : null;
}

/** One event of the log as a sentence (the timeline's "what"). */
export function describeEvent(e) {
  const d = e.data ?? {};
  switch (e.type) {
    case 'rollout-started':
      return `rollout of ${d.plan?.releaseId ?? '?'} started for ${(d.plan?.deviceClasses ?? []).join(', ')}`;
    case 'lane-started':
      return 'class started';
    case 'phase-started':
      return `phase ${d.phase + 1} started: ${d.share}% of the class`;
    case 'exposure-issued':
      return d.bakeUntil === undefined
        ? `build ${d.artifact?.build ?? '?'} offered to ${(d.cohortBound / 100).toFixed(2)}% (phase ${d.phase + 1}, attempt ${d.attempt}), widening at ${d.pace?.ratePerMinute ?? '?'} devices/min toward ${((d.pace?.targetBound ?? 0) / 100).toFixed(2)}%`
        : `build ${d.artifact?.build ?? '?'} offered to ${(d.cohortBound / 100).toFixed(2)}% (phase ${d.phase + 1}, attempt ${d.attempt}), bake until ${clock(d.bakeUntil)}`;
    case 'exposure-widened':
      return `offer widened from ${(d.fromBound / 100).toFixed(2)}% to ${(d.cohortBound / 100).toFixed(2)}% (phase ${d.phase + 1}, ${d.pace?.ratePerMinute ?? '?'} devices/min)${d.bakeUntil === undefined ? '' : `: exposure complete, bake until ${clock(d.bakeUntil)}`}`;
    case 'exposure-held':
      return `${d.holds === 'step' ? 'next step' : 'offer'} of phase ${d.phase + 1} held outside the maintenance window, until ${clock(d.opensAt)} (${d.timeZone})`;
    case 'bake-elapsed':
      return `bake of phase ${d.phase + 1} over, verdict ${d.verdict}`;
    case 'min-bake-elapsed':
      return `minimum bake of phase ${d.phase + 1} over, verdict ${d.verdict}${d.verdict === 'healthy' ? '' : `; ends once proven healthy, or at ${clock(d.bakeUntil)}`}`;
    case 'phase-passed':
      return d.endedBy === 'evidence'
        ? `phase ${d.phase + 1} passed on proven health after ${d.elapsedSec} s, before its maximum bake`
        : `phase ${d.phase + 1} passed after its bake, ${d.elapsedSec} s after exposure`;
    case 'health-evaluated':
      return `${d.window} outcomes: ${pct(d.verdict?.evidence?.failureRate)} failed of ${d.verdict?.evidence?.sample ?? 0} (${d.verdict?.verdict})`;
    case 'threshold-breached': {
      if (d.evidence?.rule === 'regression') {
        return `BREACH in phase ${d.phase + 1}: post-install ${d.evidence.signal} at ${ratio(d.evidence.ratio)} the control's rate, tolerated ${d.evidence.maxRateRatio}×; the policy says ${d.response}. ${d.evidence.explanation ?? ''}`;
      }
      const f = breachFigures(d.evidence);
      return `BREACH in phase ${d.phase + 1}: ${pct(f.failureRate)} against at most ${pct(f.maxFailureRate)}${f.criterion ? ` (${f.criterion})` : ''}; the policy says ${d.response}. ${d.evidence.explanation ?? ''}`;
    }
    case 'lane-paused':
      return `paused (${d.cause})${d.detail ? `: ${d.detail}` : ''}`;
    case 'lane-resumed':
      return 'resumed';
    case 'retry-issued':
      return `retry of phase ${d.phase + 1}: attempt ${d.attempt} after ${d.backoffSec} s (${d.trigger})`;
    case 'rollback-started':
      return `rollback of ${(d.cohortBound / 100).toFixed(2)}% of the class started (${d.trigger})`;
    case 'rollback-completed':
      return `rollback completed: ${d.totals?.succeeded ?? 0} devices rolled back`;
    case 'rollback-failed':
      return `rollback FAILED: ${d.evidence?.explanation ?? ''}`;
    case 'gate-waiting':
      return `waits for approval before phase ${d.phase + 1}`;
    case 'gate-approved':
      return `phase ${d.phase + 1} approved`;
    case 'patching-started':
      return `all phases passed with ${pct(d.patchedShare)} patched; counting until ${pct(d.target)} report success, or ${clock(d.deadline)}`;
    case 'regression-evaluated':
      return `post-install ${d.verdict}: ${(d.signals ?? []).map((s) => `${s.signal} ${ratio(s.ratio)} (tolerated ${s.maxRateRatio}×)`).join(', ')}`;
    case 'watch-started':
      return `all phases passed; watching the devices for regressions until ${clock(d.until)}`;
    case 'lane-completed':
      if (d.endedBy === 'watch') return `completed all ${d.phases} phases after the regression watch`;
      return d.endedBy === undefined
        ? `completed all ${d.phases} phases`
        : `completed with ${pct(d.patchedShare)} patched (${d.succeeded} of ${d.classSize}${d.sizeSource === 'estimate' ? ', estimated' : ''}): ${d.endedBy === 'deadline' ? 'the completion deadline passed' : 'the target share reported success'}`;
    case 'lane-stalled':
      return `STALLED: no report from exposed devices since ${clock(d.quietSince)} on offer ${d.offerId} (${(d.cohortBound / 100).toFixed(2)}% exposed)`;
    case 'lane-stall-cleared':
      return `stall over: outcomes arrived again on offer ${d.offerId}`;
    case 'lane-aborted':
      return `aborted (${d.cause})`;
    case 'lane-abort-deferred':
      return `abort waits for the running rollback (${d.cause})`;
    case 'rollout-completed':
      return `rollout completed: ${Object.entries(d.lanes ?? {})
        .map(([lane, outcome]) => `${lane} ${outcome}`)
        .join(', ')}`;
    case 'rollout-aborted':
      return 'rollout aborted';
    case 'lane-lost':
      return `class ${d.lane} lost (${d.cause}): ${d.detail}`;
    case 'lane-restarted':
      return `class ${d.lane} restarted`;
    case 'fleet-halted':
      return `FLEET HALT (${d.cause}): ${d.reason}`;
    case 'rollout-scheduled':
      return `${d.waitUntil ? `scheduled: starts at ${clock(d.waitUntil)}` : 'scheduled: started at once'}${d.endAt ? `; ${d.endBehavior === 'cancel' ? 'cancels' : 'stops'} at ${clock(d.endAt)}` : ''}`;
    case 'schedule-started':
      return `scheduled start reached: classes starting`;
    case 'schedule-ended':
      return !d.lanesStarted
        ? 'schedule ended before any class started'
        : d.endBehavior === 'cancel'
          ? 'schedule ended: rollout cancelled'
          : `schedule ended: stopping ${(d.stopLanes ?? []).join(', ') || 'no class'}`;
    case 'operator-command-accepted':
      return `${d.command} accepted`;
    default:
      return e.type;
  }
}
