/**
 * What-if: the recorded rollout re-decided with other thresholds or breach policies. The alternative is a
 * whole plan, or only the parts that change (`thresholds`, `breachPolicy`, `classes.<name>.…`, or a bare
 * thresholds object), merged onto the recorded plan. Each lane is re-decided twice over the same recorded
 * inputs (see redecide.ts): with its recorded configuration (the baseline, which must reproduce the log)
 * and with the alternative; differences are measured between the two, so the model's own simplifications
 * cancel out. Exposure counts only devices that really installed: a what-if can remove exposure, never
 * invent it. Pure.
 */
import YAML from 'yaml';
import type { DomainEvent } from '../events/domain-events';
import { ThresholdsSchema } from '../events/health';
import {
  laneConfigOf,
  rulesVersionOf,
  validatePlan,
  type LaneConfig,
  type PlanError,
  type RolloutPlan,
} from '../events/plan';
import type { DeviceFact } from './outcomes';
import { decisionsOf, haltOf, issuedOffers, type Redecision } from './redecide';

/** The alternative plan, or the problems with the what-if file. */
export type WhatIfPlanResult = { ok: true; plan: RolloutPlan } | { ok: false; errors: PlanError[] };

const PLAN_KEYS = ['releaseId', 'artifact', 'deviceClasses', 'phases'];

/**
 * Reads a what-if file against the recorded plan: a full plan (it has `releaseId`, `artifact`,
 * `deviceClasses`, `phases`) replaces it; anything else is merged onto it — `thresholds` and `regression` key by
 * key, `breachPolicy`, `fleetHalt`, and `classes.<name>` overrides (their thresholds and regression key by key). A
 * file that holds only threshold keys (`maxFailureRate: 0.01`) is read as `thresholds`. The result is validated as
 * a plan, so a bad file gets path, value and rule.
 */
export function whatIfPlanOf(recorded: RolloutPlan, text: string, sourceName = 'what-if'): WhatIfPlanResult {
  let raw: unknown;
  try {
    raw = YAML.parse(text);
  } catch (err) {
    return {
      ok: false,
      errors: [{ path: '(syntax)', value: undefined, rule: `${sourceName}: ${(err as Error).message}` }],
    };
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    return { ok: false, errors: [{ path: '(root)', value: raw, rule: `${sourceName} must be a YAML mapping` }] };
  }
  const input = raw as Record<string, unknown>;
  if (PLAN_KEYS.every((key) => key in input)) return validatePlan({ rolloutId: recorded.rolloutId, ...input });
  // The recorded plan may be a rules version 1 plan: its retired keys are what it ran with.
  const thresholdKeys = Object.keys(ThresholdsSchema.shape);
  const overrides = Object.keys(input).every((key) => thresholdKeys.includes(key)) ? { thresholds: input } : input;
  const classes: Record<string, unknown> = { ...recorded.classes };
  const classOverrides = (overrides.classes ?? {}) as Record<string, Record<string, unknown>>;
  for (const [name, override] of Object.entries(classOverrides)) {
    const before = (recorded.classes[name] ?? {}) as Record<string, unknown>;
    const thresholds = { ...(before.thresholds as object), ...(override?.thresholds as object) };
    const regression = { ...(before.regression as object), ...(override?.regression as object) };
    classes[name] = {
      ...before,
      ...override,
      ...(Object.keys(thresholds).length > 0 ? { thresholds } : {}),
      ...(Object.keys(regression).length > 0 ? { regression } : {}),
    };
  }
  const regression = { ...recorded.regression, ...(overrides.regression as object) };
  return validatePlan(
    {
      ...recorded,
      ...overrides,
      thresholds: { ...recorded.thresholds, ...(overrides.thresholds as object) },
      ...(Object.keys(regression).length > 0 ? { regression } : {}),
      classes,
    },
    { allowRetiredKeys: true },
  );
}

/** How many devices a lane's decisions exposed, counting only devices that really installed. */
export type Exposure = {
  /** The halt that took effect (null: exposure never stopped for good). */
  haltAt: string | null;
  haltType: DomainEvent['type'] | null;
  /** Devices that installed before the halt (all that installed when there was none). */
  exposed: number;
  /** Of those, devices that failed or timed out. */
  failed: number;
};

/**
 * Counts a world's exposure: a device that really installed under offer `o` at time `t` counts when the
 * world issued `o` too, and `t` (shifted by how much later the world issued `o`) lies before the world's
 * halt. Used for the recorded lane (its blast radius) and for each what-if alike.
 */
export function exposureOf(
  world: readonly DomainEvent[],
  recorded: readonly DomainEvent[],
  facts: ReadonlyMap<string, DeviceFact>,
): Exposure {
  const halt = haltOf(world);
  const haltMs = halt === null ? Infinity : Date.parse(halt.at);
  const issued = issuedOffers(world);
  const issuedLive = issuedOffers(recorded);
  let exposed = 0;
  let failed = 0;
  for (const fact of facts.values()) {
    const offer = issued.get(fact.offerId);
    if (offer === undefined) continue;
    const live = issuedLive.get(fact.offerId);
    const shift = live === undefined ? 0 : Math.max(0, Date.parse(offer.at) - Date.parse(live.at));
    if (fact.installedMs + shift >= haltMs) continue;
    exposed++;
    if (fact.failedMs !== null) failed++;
  }
  return { haltAt: halt?.at ?? null, haltType: halt?.type ?? null, exposed, failed };
}

/** JSON with object keys sorted: events read back through the schema come with its key order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** A decision as compared: time, type and data. */
function signature(e: DomainEvent): string {
  // A lane's start differs by its configuration only: that is the premise of a what-if, not a decision.
  return e.type === 'lane-started' ? `${e.at} ${e.type}` : `${e.at} ${e.type} ${canonicalJson(e.data)}`;
}

/** The first decision where two event streams differ, or null when they agree. */
export function firstDifference(
  a: readonly DomainEvent[],
  b: readonly DomainEvent[],
): { index: number; a: DomainEvent | null; b: DomainEvent | null } | null {
  const da = decisionsOf(a);
  const db = decisionsOf(b);
  const n = Math.max(da.length, db.length);
  for (let i = 0; i < n; i++) {
    const x = da[i];
    const y = db[i];
    if (x === undefined || y === undefined || signature(x) !== signature(y)) {
      return { index: i, a: x ?? null, b: y ?? null };
    }
  }
  return null;
}

/** What-if result of one class. */
export type WhatIfClass = {
  lane: string;
  /** Whether the alternative's decisions differ from the baseline's. */
  differs: boolean;
  /** The first differing decision: what the baseline (recorded configuration) did and what the what-if did. */
  firstDifference: { at: string; baseline: string | null; whatIf: string | null } | null;
  baseline: Exposure;
  whatIf: Exposure;
  /** baseline.exposed − whatIf.exposed (positive: the what-if would have exposed fewer devices). */
  fewerExposed: number;
  fewerFailed: number;
  /** Seconds the what-if halted earlier than the baseline (negative: later); null unless both halted. */
  haltEarlierSec: number | null;
  /** Decision events of the what-if (for the report's timeline). */
  decisions: DomainEvent[];
  refused: Redecision['refused'];
  droppedDeltas: number;
  shiftedDeltas: number;
};

/** The whole what-if. */
export type WhatIfReport = {
  source: string;
  differs: boolean;
  classes: WhatIfClass[];
  /** Sentences printed with every what-if: what is counted and what the model cannot know. */
  notes: string[];
};

/** The notes every what-if report carries (semantics and honest limits). */
export const WHAT_IF_NOTES: readonly string[] = [
  'Exposure counts only devices that really installed the build during the recorded rollout: a what-if can remove exposure (an earlier halt), never add it. A what-if that would have gone on longer than the recorded run cannot know what those devices would have done.',
  'Decisions are re-made at the moments the live ingest delivered health deltas (its batches, typically under a second apart), so a what-if halt can be up to one batch later than a live ingest with those thresholds would have flushed.',
  'Install timeouts are the ones the live ingest decided (its markers on bsi.install-events); a different installTimeoutSec does not move them. Fleet-wide halts are taken as recorded, not re-decided.',
  'Differences are measured against a baseline re-run with the recorded configuration over the same inputs; the report says whether that baseline reproduces the recorded decisions exactly.',
];

/**
 * Compares the baseline and the what-if re-runs of each lane: first differing decision, halts, exposure
 * and failures among the exposed. `facts` are the lanes' device facts from the install events.
 */
export function compareWhatIf(
  source: string,
  recordedLog: readonly DomainEvent[],
  runs: readonly { baseline: Redecision; whatIf: Redecision }[],
  facts: ReadonlyMap<string, ReadonlyMap<string, DeviceFact>>,
): WhatIfReport {
  const classes = runs.map(({ baseline, whatIf }): WhatIfClass => {
    const lane = baseline.lane;
    const recorded = recordedLog.filter((e) => e.lane === lane);
    const laneFacts = facts.get(lane) ?? new Map<string, DeviceFact>();
    const b = exposureOf(baseline.events, recorded, laneFacts);
    const w = exposureOf(whatIf.events, recorded, laneFacts);
    const diff = firstDifference(baseline.events, whatIf.events);
    const haltEarlierSec =
      b.haltAt !== null && w.haltAt !== null ? (Date.parse(b.haltAt) - Date.parse(w.haltAt)) / 1000 : null;
    return {
      lane,
      differs: diff !== null,
      firstDifference:
        diff === null
          ? null
          : {
              at: (diff.b ?? diff.a)!.at,
              baseline: diff.a === null ? null : `${diff.a.type} ${JSON.stringify(diff.a.data)}`,
              whatIf: diff.b === null ? null : `${diff.b.type} ${JSON.stringify(diff.b.data)}`,
            },
      baseline: b,
      whatIf: w,
      fewerExposed: b.exposed - w.exposed,
      fewerFailed: b.failed - w.failed,
      haltEarlierSec,
      decisions: decisionsOf(whatIf.events),
      refused: whatIf.refused,
      droppedDeltas: whatIf.droppedDeltas,
      shiftedDeltas: whatIf.shiftedDeltas,
    };
  });
  return { source, differs: classes.some((c) => c.differs), classes, notes: [...WHAT_IF_NOTES] };
}

/** Each lane's configuration under a plan, falling back to the recorded one for classes the plan lacks. */
export function laneConfigsOf(plan: RolloutPlan, recorded: Record<string, LaneConfig>): Record<string, LaneConfig> {
  const out: Record<string, LaneConfig> = {};
  for (const [lane, config] of Object.entries(recorded)) {
    out[lane] = plan.deviceClasses.includes(lane) ? laneConfigOf(plan, lane, rulesVersionOf(config)) : config;
  }
  return out;
}
