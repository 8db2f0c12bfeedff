/**
 * The Alertmanager receiver's rules (the Prometheus ecosystem's webhook, payload version 4): every firing alert
 * whose labels name a rollout (`rollout_id`, optionally `device_class`) pauses that class, or the whole rollout,
 * with the alert as the audited reason (name, summary, fingerprint). Resolved alerts resume nothing: a person
 * decides that. Each firing alert's pause carries a request id derived from its fingerprint and start, so the
 * notifications Alertmanager repeats while the alert fires apply once. Pure: the server sends the commands.
 */
import { z } from 'zod';
import { DeviceClassSchema, IdSchema } from '../events/install-event';

const LabelsSchema = z.record(z.string().max(1024), z.string().max(4096));

/** One alert of an Alertmanager webhook. */
export const AlertSchema = z.object({
  status: z.enum(['firing', 'resolved']),
  labels: LabelsSchema,
  annotations: LabelsSchema.default({}),
  startsAt: z.string().max(64),
  endsAt: z.string().max(64).optional(),
  generatorURL: z.string().max(4096).optional(),
  fingerprint: z.string().max(128).optional(),
});
export type Alert = z.infer<typeof AlertSchema>;

/** The webhook body (Alertmanager's `version: "4"`). Unknown top-level keys are allowed, as Alertmanager adds some. */
export const AlertmanagerWebhookSchema = z.object({
  version: z.literal('4'),
  groupKey: z.string().max(4096),
  truncatedAlerts: z.number().int().min(0).optional(),
  status: z.enum(['firing', 'resolved']),
  receiver: z.string().max(1024),
  groupLabels: LabelsSchema,
  commonLabels: LabelsSchema,
  commonAnnotations: LabelsSchema,
  externalURL: z.string().max(4096),
  alerts: z.array(AlertSchema).min(1).max(1000),
});
export type AlertmanagerWebhook = z.infer<typeof AlertmanagerWebhookSchema>;

/** What one alert asks for: pause a target, or nothing (with why). */
export type AlertAction =
  | { kind: 'pause'; rolloutId: string; lane: string | undefined; reason: string; requestId: string }
  | { kind: 'ignored'; why: string; alertname: string };

/** The alert's name, as Alertmanager labels it. */
function nameOf(alert: Alert): string {
  return alert.labels.alertname ?? '(unnamed alert)';
}

/**
 * What each alert of a webhook asks for, in order. A firing alert with a valid `rollout_id` (and a valid
 * `device_class`, when given) pauses it; a resolved alert, or one without the labels, is ignored with the reason.
 */
export function alertActions(webhook: AlertmanagerWebhook): AlertAction[] {
  return webhook.alerts.map((alert): AlertAction => {
    const alertname = nameOf(alert);
    if (alert.status === 'resolved') {
      return { kind: 'ignored', why: 'resolved alerts do not resume anything: resume by hand', alertname };
    }
    const rolloutId = IdSchema.safeParse(alert.labels.rollout_id);
    if (!rolloutId.success) return { kind: 'ignored', why: 'no valid rollout_id label', alertname };
    const cls = alert.labels.device_class;
    const lane = cls === undefined ? undefined : DeviceClassSchema.safeParse(cls);
    if (lane !== undefined && !lane.success) return { kind: 'ignored', why: 'invalid device_class label', alertname };
    const summary = alert.annotations.summary ?? alert.annotations.description ?? '';
    const fingerprint = alert.fingerprint ?? 'none';
    const reason = `alert ${alertname}${summary ? `: ${summary}` : ''} (Alertmanager, fingerprint ${fingerprint})`;
    const started = Date.parse(alert.startsAt);
    const key = `${fingerprint}-${Number.isNaN(started) ? alert.startsAt : started}`.replace(/[^A-Za-z0-9._:-]/g, '_');
    return {
      kind: 'pause',
      rolloutId: rolloutId.data,
      lane: lane?.data,
      reason: reason.slice(0, 1000),
      requestId: `alertmanager-${key}${lane?.data ? `-${lane.data}` : ''}`.slice(0, 128),
    };
  });
}
