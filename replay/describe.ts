/**
 * One readable line per domain event: what happened, to which class, and why — the sentence an SRE
 * reads in `rollout events`, the timeline of `rollout replay` and the HTML report. The event itself
 * stays the source of truth; this only renders it.
 */
import type { DomainEvent, EventOf, OutcomeCounts } from '../events/domain-events';
import { formatDurationSec } from '../events/plan';
import { signalText } from '../events/regression';

const pct = (bound: number): string => `${(bound / 100).toFixed(bound % 100 === 0 ? 0 : 2)}%`;

function countsText(c: OutcomeCounts): string {
  const failed = Object.values(c.failedByCode).reduce((a, b) => a + b, 0);
  return `ok ${c.succeeded}, failed ${failed}, timed out ${c.timedOut}, in progress ${Math.max(0, c.inProgress)}`;
}

/**
 * The offsets a `health-evaluated` delta counted a second time (its `overlap`: ranges starting at or below the lane's
 * mark), as `; OVERLAP …`, or '' when it has none. Each overlapping range was counted again from its start up to
 * the mark (or its own end, if lower).
 */
export function overlapText(event: EventOf<'health-evaluated'>): string {
  const overlap = event.data.overlap;
  if (overlap === undefined) return '';
  const parts = overlap.map((o) => {
    const range = event.data.delta.ranges.find((r) => r.partition === o.partition && r.fromOffset === o.fromOffset);
    const to = range !== undefined && BigInt(range.toOffset) < BigInt(o.mark) ? range.toOffset : o.mark;
    return `partition ${o.partition} offsets ${o.fromOffset}-${to}`;
  });
  return `; OVERLAP: counted before and again (${parts.join(', ')})`;
}

const percentOf = (share: number): string => `${(share * 100).toFixed(1)}%`;

/** `62.1% (6,210 of 10,000 devices, estimated)`: a patched share with what it was judged against. */
function shareText(share: {
  patchedShare?: number | undefined;
  succeeded?: number | undefined;
  classSize?: number | undefined;
  sizeSource?: 'plan' | 'estimate' | undefined;
}): string {
  const of = share.sizeSource === 'plan' ? 'the plan' : 'estimated';
  return `${percentOf(share.patchedShare ?? 0)} (${share.succeeded ?? 0} of ${share.classSize ?? 0} devices, ${of})`;
}

/** A one-line description of an event's meaning (without time, stream or actor: callers add those). */
export function describeEvent(event: DomainEvent): string {
  switch (event.type) {
    case 'rollout-started':
      return `rollout of ${event.data.plan.releaseId} started for ${event.data.plan.deviceClasses.join(', ')}`;
    case 'lane-started':
      return `lane started: build ${event.data.config.artifact.build}, ${event.data.config.phases.length} phases, policy ${event.data.config.breachPolicy.action}`;
    case 'phase-started':
      return `phase ${event.data.phase + 1} started: ${pct(event.data.cohortBound)} of the class`;
    case 'exposure-issued':
      return (
        `exposure issued: phase ${event.data.phase + 1}, attempt ${event.data.attempt}, up to ${pct(event.data.cohortBound)}, build ${event.data.artifact.build} (offer ${event.data.offerId})` +
        (event.data.pace?.nextStepAt === undefined
          ? ''
          : `; paced at ${event.data.pace.ratePerMinute} devices/min toward ${pct(event.data.pace.targetBound)}`)
      );
    case 'exposure-widened':
      return (
        `exposure widened: phase ${event.data.phase + 1}, attempt ${event.data.attempt}, ${pct(event.data.fromBound)} → ` +
        `${pct(event.data.cohortBound)} of ${pct(event.data.pace.targetBound)} at ${event.data.pace.ratePerMinute} devices/min` +
        (event.data.bakeUntil === undefined ? '' : `; exposure complete, bake until ${event.data.bakeUntil}`)
      );
    case 'exposure-held':
      return (
        `${event.data.holds === 'step' ? 'next step' : 'offer'} of phase ${event.data.phase + 1} (attempt ${event.data.attempt}) ` +
        `held outside the maintenance window: it opens ${event.data.opensAt} (${event.data.timeZone})`
      );
    case 'bake-elapsed':
      return `bake of phase ${event.data.phase + 1} elapsed; verdict ${event.data.verdict}`;
    case 'min-bake-elapsed':
      return (
        `minimum bake of phase ${event.data.phase + 1} elapsed; verdict ${event.data.verdict}` +
        (event.data.verdict === 'healthy' ? '' : `; it ends once proven healthy, or at ${event.data.bakeUntil}`)
      );
    case 'phase-passed':
      return event.data.endedBy === 'evidence'
        ? `phase ${event.data.phase + 1} passed on proven health after ${formatDurationSec(event.data.elapsedSec)}, before its maximum bake (attempt ${event.data.attempt})`
        : `phase ${event.data.phase + 1} passed after its bake, ${formatDurationSec(event.data.elapsedSec)} after exposure (attempt ${event.data.attempt})`;
    case 'health-evaluated':
      return `health ${event.data.verdict.verdict} (${event.data.window}, phase ${event.data.phase + 1}): ${countsText(event.data.totals)}${overlapText(event)}`;
    case 'threshold-breached':
      return `THRESHOLD BREACHED (${event.data.rule}): ${event.data.evidence.explanation} → ${event.data.response}`;
    case 'lane-paused':
      return `lane paused (${event.data.cause})${event.data.detail ? `: ${event.data.detail}` : ''}`;
    case 'lane-resumed':
      return 'lane resumed';
    case 'retry-issued':
      return `retry ${event.data.attempt} scheduled for phase ${event.data.phase + 1} (${event.data.trigger}) after ${event.data.backoffSec}s backoff`;
    case 'rollback-started':
      return `ROLLBACK started (${event.data.trigger}) for devices below ${pct(event.data.cohortBound)}`;
    case 'rollback-completed':
      return `rollback completed: ${countsText(event.data.totals)}`;
    case 'rollback-failed':
      return `ROLLBACK FAILED: ${event.data.evidence.explanation}`;
    case 'gate-waiting':
      return `waiting for approval before phase ${event.data.phase + 1}`;
    case 'gate-approved':
      return `phase ${event.data.phase + 1} approved`;
    case 'patching-started':
      return (
        `all ${event.data.phase + 1} phases passed; ${shareText(event.data)} patched, ` +
        `counting until ${percentOf(event.data.target)} or ${event.data.deadline}`
      );
    case 'lane-completed':
      if (event.data.endedBy === 'watch') {
        return `lane completed: all ${event.data.phases} phases, watched for regressions (attempt ${event.data.attempt})`;
      }
      if (event.data.endedBy === undefined) {
        return `lane completed: all ${event.data.phases} phases (attempt ${event.data.attempt})`;
      }
      return (
        `lane completed: ${event.data.endedBy === 'deadline' ? 'completion deadline passed' : 'target share patched'}` +
        ` with ${shareText(event.data)} patched (all ${event.data.phases} phases, attempt ${event.data.attempt})`
      );
    case 'lane-stalled':
      return (
        `LANE STALLED: no report since ${event.data.quietSince} (more than ${formatDurationSec(event.data.stallAfterSec)}) ` +
        `on offer ${event.data.offerId}, exposed up to ${pct(event.data.cohortBound)}, while waiting for ${event.data.waiting}`
      );
    case 'lane-stall-cleared':
      return `stall cleared: outcomes arrived again on offer ${event.data.offerId} (quiet since ${event.data.quietSince})`;
    case 'regression-evaluated':
      return (
        `post-install ${event.data.verdict}${event.data.actionable ? '' : ' (not actionable)'}: ` +
        event.data.signals.map(signalText).join('; ')
      );
    case 'watch-started':
      return `all ${event.data.phase + 1} phases passed; watching the devices for regressions ${formatDurationSec(event.data.watchSec)}, until ${event.data.until}`;
    case 'lane-aborted':
      return `lane aborted (${event.data.cause})`;
    case 'lane-abort-deferred':
      return `abort (${event.data.cause}) waits for rollback ${event.data.rollbackOfferId} to end; nothing more is exposed`;
    case 'rollout-completed':
      return `rollout completed: ${Object.entries(event.data.lanes)
        .map(([lane, outcome]) => `${lane} ${outcome}`)
        .join(', ')}`;
    case 'rollout-aborted':
      return 'rollout aborted';
    case 'lane-restarted':
      return `lane ${event.data.lane} restarted from its log (it had been lost: ${event.data.lostCause})`;
    case 'lane-lost':
      return `LANE LOST: ${event.data.lane}'s workflow ${event.data.cause} while ${event.data.lastStatus}: ${event.data.detail}`;
    case 'fleet-halted':
      return `FLEET HALT (${event.data.cause}): ${event.data.reason}; halting ${event.data.haltLanes.join(', ') || 'no running lane'}`;
    case 'rollout-scheduled':
      return (
        (event.data.waitUntil === null
          ? 'scheduled: starts its classes now'
          : `SCHEDULED: starts at ${event.data.waitUntil}`) +
        (event.data.endAt === null
          ? ''
          : `; at ${event.data.endAt} it ${event.data.endBehavior === 'cancel' ? 'cancels' : 'stops'}`)
      );
    case 'schedule-started':
      return `scheduled start ${event.data.startAt} reached: starting the classes`;
    case 'schedule-ended':
      if (!event.data.lanesStarted) return `SCHEDULE ENDED at ${event.data.endAt} before any class started`;
      return event.data.endBehavior === 'cancel'
        ? `SCHEDULE ENDED at ${event.data.endAt}: cancelling the rollout`
        : `SCHEDULE ENDED at ${event.data.endAt}: stopping ${event.data.stopLanes.join(', ') || 'no class'} (no new cohort; a rollback under way finishes)`;
    case 'operator-command-accepted':
      return `operator command ${event.data.command} accepted`;
    default: {
      const _exhaustive: never = event;
      return _exhaustive;
    }
  }
}

/** `2026-11-27 12:00:01.234Z  laptop-x1  #12  <description>  [by alice: reason]` — one line of a timeline. */
export function formatEventLine(event: DomainEvent): string {
  const who = event.actor ? `  [by ${event.actor}${event.reason ? `: ${event.reason}` : ''}]` : '';
  const at = event.at.replace('T', ' ');
  return `${at}  ${(event.lane ?? '(rollout)').padEnd(14)} #${String(event.seq).padEnd(4)} ${describeEvent(event)}${who}`;
}
