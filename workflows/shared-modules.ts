/**
 * The domain modules every workflow in a worker thread shares (the bundle's `preloadModules`).
 *
 * The SDK's reusable V8 context evaluates the bundle's modules again for every workflow it creates, so that no
 * workflow sees another's module state. For the pure domain core that costs tens of milliseconds per workflow
 * (zod builds every schema of `domain-events`, `commands` and `plan` anew, and the calibration memo starts empty),
 * and a new rollout creates five workflows at once while other lanes' halts wait behind them on the same thread.
 * Modules loaded here are evaluated once per worker thread instead.
 *
 * What may be shared: these modules do no I/O, read no clock and draw no random number; their only module state is
 * caches of pure functions (calibrated bounds, compiled thresholds, date formats), which answer the same whichever
 * workflow filled them, so a replay decides what the live run decided.
 *
 * Why each namespace is frozen here: the SDK deep-freezes what shared modules export, and a frozen zod schema
 * throws on first use (zod builds a schema's methods on first read and stores them on the schema). The SDK leaves
 * an object that is already frozen as it is, so freezing a module's exports object first keeps the module's
 * bindings read-only and its schemas usable. Every domain module the workflows import must be listed here: a unit
 * test follows their imports and fails on one that is not.
 */
import * as calibration from '../events/calibration';
import * as commands from '../events/commands';
import * as domainEvents from '../events/domain-events';
import * as fleetCommands from '../events/fleet-commands';
import * as haltModel from '../events/halt-model';
import * as health from '../events/health';
import * as healthV1 from '../events/health-v1';
import * as installEvent from '../events/install-event';
import * as lane from '../events/lane';
import * as maintenanceWindow from '../events/maintenance-window';
import * as notification from '../events/notification';
import * as offsetRange from '../events/offset-range';
import * as pacing from '../events/pacing';
import * as plan from '../events/plan';
import * as postInstall from '../events/post-install';
import * as regression from '../events/regression';
import * as rollout from '../events/rollout';
import * as schedule from '../events/schedule';
import * as severity from '../events/severity';
import * as supersede from '../events/supersede';
import * as webhookConfig from '../events/webhook-config';

/** The shared modules by file name (as in `events/`), frozen. */
export const SHARED_MODULES: Readonly<Record<string, object>> = Object.freeze({
  calibration: Object.freeze(calibration),
  commands: Object.freeze(commands),
  'domain-events': Object.freeze(domainEvents),
  'fleet-commands': Object.freeze(fleetCommands),
  'halt-model': Object.freeze(haltModel),
  health: Object.freeze(health),
  'health-v1': Object.freeze(healthV1),
  'install-event': Object.freeze(installEvent),
  lane: Object.freeze(lane),
  'maintenance-window': Object.freeze(maintenanceWindow),
  notification: Object.freeze(notification),
  'offset-range': Object.freeze(offsetRange),
  pacing: Object.freeze(pacing),
  plan: Object.freeze(plan),
  'post-install': Object.freeze(postInstall),
  regression: Object.freeze(regression),
  rollout: Object.freeze(rollout),
  schedule: Object.freeze(schedule),
  severity: Object.freeze(severity),
  supersede: Object.freeze(supersede),
  'webhook-config': Object.freeze(webhookConfig),
});
