// One device class on the rollout page: phase and exposure, outcome counts, the failure rate of the window being
// judged and of the class in total against the threshold (each labelled), the verdict with its evidence, what the
// lane waits for, the breach that halted it, its chart and its command buttons.
import { html, useMemo } from './vendor/preact-htm.js';
import { ActionBar } from './action-bar.js';
import { LaneChart } from './lane-chart.js';
import { pointsFromEvents } from './series.js';
import {
  clock,
  failuresOf,
  lastBreachOf,
  pct,
  relative,
  showsBreach,
  totalRate,
  verdictText,
  waitingText,
  windowLabel,
} from './words.js';

const LANE_COMMANDS = ['pause', 'resume', 'approve', 'retry', 'rollback', 'abort'];
const ROLLED_BACK = ['rolling-back', 'rolled-back', 'rollback-failed'];

function countsLine(counts) {
  const c = failuresOf(counts);
  return `${c.succeeded} installed, ${c.failed} failed, ${c.timedOut} timed out${counts?.inProgress ? `, ${counts.inProgress} installing` : ''}`;
}

/** Seconds as the plan writes durations: `2h5m`, `45s`. */
function span(seconds) {
  let rest = Math.max(0, Math.round(seconds));
  let out = '';
  for (const [unit, size] of [
    ['d', 86400],
    ['h', 3600],
    ['m', 60],
    ['s', 1],
  ]) {
    const n = Math.floor(rest / size);
    rest -= n * size;
    if (n > 0) out += `${n}${unit}`;
  }
  return out || '0s';
}

/**
 * Patched, not just exposed (lanes whose plan has a completion rule): the share of the class that reported success
 * against the target, the class size and where it comes from, the estimate of when the target is reached, and the
 * time from the lane's start to each milestone reached.
 */
function patchedText(patched, now) {
  const size = `${patched.succeeded} of ${patched.classSize}${patched.sizeSource === 'estimate' ? ', size estimated' : ''}`;
  const eta = patched.eta ? `; target reached about ${clock(patched.eta)} (${relative(patched.eta, now)})` : '';
  const reached = Object.entries(patched.secondsTo)
    .filter(([, seconds]) => seconds !== null)
    .map(([share, seconds]) => `${share} % after ${span(seconds)}`);
  const milestones = reached.length > 0 ? `; ${reached.join(', ')}` : '';
  return `${pct(patched.patchedShare)} of the class (${size}), target ${pct(patched.target)}${eta}${milestones}`;
}

function rolledBackTitle(lane) {
  return lane.status === 'rolled-back' || lane.status === 'rolling-back' ? 'Rolled back after a breach' : 'Last breach';
}

/** A rate per device-hour, e.g. `0.0213/h`, or an em dash. */
function perHour(rate) {
  return typeof rate === 'number' && Number.isFinite(rate) ? `${rate.toPrecision(3)}/h` : '—';
}

/** A post-install signal judged against the control: its ratio, the tolerance, and both groups' rates and hours. */
function signalText(s) {
  const ratio = typeof s.ratio === 'number' ? `${s.ratio.toFixed(2)}×` : 'no ratio yet';
  return `${s.signal}: ${ratio} the control's rate (tolerated ${s.maxRateRatio}×); updated ${perHour(s.updatedRatePerHour)} over ${Math.round(s.updatedHours)} device-hours, control ${perHour(s.controlRatePerHour)} over ${Math.round(s.controlHours)}`;
}

/** What breached: an install failure rate against its maximum, or a post-install signal against the control. */
function breachWhat(breach) {
  if (breach.regression) return `post-install ${signalText(breach.regression)}`;
  return `failure rate ${pct(breach.failureRate)} against at most ${pct(breach.maxFailureRate)}`;
}

function breachVerdict(breach) {
  if (breach.regression)
    return `Regression in phase ${breach.phase + 1}: ${breach.regression.signal} ${breach.regression.ratio?.toFixed(2) ?? '?'}× the control's rate`;
  return `Breach in phase ${breach.phase + 1}: ${pct(breach.failureRate)} against at most ${pct(breach.maxFailureRate)}`;
}

function breachSentence(breach) {
  const why = breach.explanation ? ` ${breach.explanation}` : '';
  return `at ${clock(breach.at)} in phase ${breach.phase + 1}: ${breachWhat(breach)}.${why}`;
}

/**
 * The card of `lane` (a status view lane); `events` is the rollout's log, `livePoints` what the status stream brought
 * (see series.js); the chart's points are computed again only when either changes.
 */
export function LaneCard({ rolloutId, lane, events, livePoints, now, onCommand }) {
  const points = useMemo(
    () => [...pointsFromEvents(events, lane.lane), ...livePoints],
    [events, livePoints, lane.lane],
  );
  const breach = lastBreachOf(lane);
  // A class halted by a breach is judged by that breach: its rollback window's "healthy" says nothing of the build.
  const leadsWithBreach = showsBreach(lane, breach);
  const verdict = leadsWithBreach ? 'breach' : lane.verdict;
  const total = totalRate(lane);
  const phase = lane.phase < 0 ? 'not started' : `${lane.phase + 1} of ${lane.phases}`;
  const status = lane.lost ? 'lost' : lane.status;
  return html`<article data-lane-card=${lane.lane} data-status=${status}>
    <header>
      <strong>${lane.lane}</strong> <span class=${`chip ${status}`} data-lane-status>${status}</span>
      ${verdict && html`<span class=${`chip ${verdict}`} data-verdict-chip>${verdict}</span>`}
      ${lane.breaches > 0 && html`<span class="chip breach">${lane.breaches} breach${lane.breaches === 1 ? '' : 'es'}</span>`}
    </header>
    <dl class="figures">
      <dt>Phase</dt>
      <dd>${phase}${lane.attempt > 1 ? `, attempt ${lane.attempt}` : ''}</dd>
      <dt>Exposure bound</dt>
      <dd>${lane.exposurePercent.toFixed(2)}% of the class</dd>
      <dt>Window judged</dt>
      <dd data-window>${windowLabel(lane)}: ${countsLine(lane.counts)}</dd>
      <dt>Class in total</dt>
      <dd>
        ${countsLine(lane.total)}${lane.rolledBack > 0 || lane.rollbackFailed > 0 ? `; ${lane.rolledBack} rolled back, ${lane.rollbackFailed} rollbacks failed` : ''}
      </dd>
      <dt>Failure rate, window judged</dt>
      <dd data-window-rate>${pct(lane.failureRate)} against at most ${pct(lane.maxFailureRate)}</dd>
      <dt>Failure rate, class total</dt>
      <dd data-total-rate>
        ${pct(total.rate)} against at most ${pct(lane.maxFailureRate)} <span class="muted">(${total.how})</span>
      </dd>
      <dt>Verdict</dt>
      <dd data-verdict>
        ${
          leadsWithBreach
            ? html`${breachVerdict(breach)}<br /><span class="muted"
                  >now judged: ${windowLabel(lane)}, ${(lane.verdict ?? 'no verdict').replace('-', ' ')}</span
                >`
            : html`${verdictText(lane)}${lane.explanation ? html`<br /><span class="muted">${lane.explanation}</span>` : ''}`
        }
      </dd>
      <dt>Waits for</dt>
      <dd data-waiting>${waitingText(lane, now)}</dd>
      ${
        // A class that went back to its old build has no patched share to show: what it installed was taken back.
        lane.patched &&
        !ROLLED_BACK.includes(lane.status) &&
        html`<dt>Patched</dt>
          <dd data-patched>${patchedText(lane.patched, now)}</dd>`
      }
      ${
        lane.regression &&
        html`<dt>After install</dt>
          <dd data-regression>
            ${lane.regression.signals.map((sig) => html`<div data-signal=${sig.signal}>${signalText(sig)}: ${sig.verdict}</div>`)}
          </dd>`
      }
      ${
        lane.stalled &&
        html`<dt>Stalled</dt>
          <dd data-stalled>
            no device of offer ${lane.stalled.offerId} has reported since ${clock(lane.stalled.quietSince)}
            (${relative(lane.stalled.quietSince, now)}); flagged at ${clock(lane.stalled.at)}
          </dd>`
      }
      ${
        lane.lost &&
        html`<dt>Lost</dt>
          <dd>${lane.lost.cause}: ${lane.lost.detail}</dd>`
      }
    </dl>
    ${
      breach &&
      html`<div class="breach-box" data-breach>
        <strong>${rolledBackTitle(lane)}</strong> ${breachSentence(breach)}
      </div>`
    }
    <${LaneChart} lane=${lane.lane} points=${points} />
    <${ActionBar} rolloutId=${rolloutId} lane=${lane.lane} commands=${LANE_COMMANDS} onDone=${onCommand} />
  </article>`;
}
