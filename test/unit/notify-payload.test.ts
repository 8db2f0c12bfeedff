// Which domain events notify, the payload a json webhook receives, and the Slack message built from it.
import {
  NotificationSchema,
  SlackMessageSchema,
  notificationKindOf,
  notificationOf,
  slackMessageOf,
} from '../../events/notification';
import { sampleEvents } from './notify-fixtures';

const events = sampleEvents();

describe('notificationKindOf', () => {
  it.each([
    ['threshold-breached', 'breach'],
    ['lane-paused:breach', 'halt'],
    ['lane-paused:fleet-halt', 'halt'],
    ['fleet-halted', 'fleet-halt'],
    ['rollback-started', 'rollback-started'],
    ['rollback-completed', 'rollback-completed'],
    ['rollback-failed', 'rollback-failed'],
    ['gate-waiting', 'gate-waiting'],
    ['lane-lost', 'lane-lost'],
    ['lane-stalled', 'lane-stalled'],
    ['rollout-completed', 'rollout-completed'],
    ['rollout-aborted', 'rollout-aborted'],
  ])('%s notifies as %s', (key, kind) => {
    expect(notificationKindOf(events[key]!)).toBe(kind);
  });

  it.each(['lane-paused:operator', 'gate-approved', 'lane-completed', 'lane-stall-cleared'])(
    '%s notifies nobody',
    (key) => {
      expect(notificationKindOf(events[key]!)).toBeNull();
      expect(notificationOf(events[key]!)).toBeNull();
    },
  );
});

describe('notificationOf', () => {
  it('tells a person which offer of a stalled lane went quiet, since when', () => {
    expect(notificationOf(events['lane-stalled']!)?.summary).toBe(
      'r-hooks / phone-a: no device exposed to offer phone-a/p2a1 (up to 100% of the class) has reported since ' +
        '2026-12-07T08:00:00.000Z; the lane goes on and waits for its devices.',
    );
  });

  it('builds the payload of a breach: the event id, kind, rollout, release, lane, event time, sentence and event', () => {
    const event = events['threshold-breached']!;
    const notification = notificationOf(event, {
      releaseId: 'bsi-26.3',
      links: { workflow: 'http://127.0.0.1:8233/namespaces/default/workflows/lane%2Fr-hooks%2Fphone-a' },
    });
    expect(notification).toEqual({
      id: 'r-hooks/phone-a/7',
      kind: 'breach',
      rolloutId: 'r-hooks',
      releaseId: 'bsi-26.3',
      lane: 'phone-a',
      at: '2026-12-07T10:00:00.000Z',
      summary:
        'r-hooks / phone-a: phase 2 (attempt 1) breached its threshold: 24 failures in 400 devices (6 %, limit 2 %); ' +
        'the breach policy answers pause.',
      event,
      links: { workflow: 'http://127.0.0.1:8233/namespaces/default/workflows/lane%2Fr-hooks%2Fphone-a' },
    });
    expect(NotificationSchema.parse(notification)).toEqual(notification);
  });

  it('gives the same bytes every time it is built (the signature of a retry verifies)', () => {
    const event = events['lane-paused:breach']!;
    expect(JSON.stringify(notificationOf(event, { releaseId: 'bsi-26.3' }))).toBe(
      JSON.stringify(notificationOf(structuredClone(event), { releaseId: 'bsi-26.3' })),
    );
  });

  it('names the lost class as the lane of a lane-lost, and no lane for rollout-wide kinds', () => {
    expect(notificationOf(events['lane-lost']!)?.lane).toBe('tablet-c');
    const completed = notificationOf(events['rollout-completed']!)!;
    expect(completed).not.toHaveProperty('lane');
    expect(completed).not.toHaveProperty('releaseId');
    expect(completed).not.toHaveProperty('links');
    expect(completed.summary).toBe('r-hooks: the rollout completed (phone-a completed, tablet-c rolled-back).');
  });

  it('writes one plain sentence for every notifying event', () => {
    for (const event of Object.values(events)) {
      const notification = notificationOf(event);
      if (notification === null) continue;
      expect(notification.summary).toMatch(/^r-hooks[^\n]*\.$/);
      expect(NotificationSchema.safeParse(notification).success).toBe(true);
    }
    expect(notificationOf(events['rollout-aborted']!)?.summary).toBe('r-hooks: the rollout was aborted by ana.');
    expect(notificationOf(events['gate-waiting']!)?.summary).toBe(
      'r-hooks / phone-a: phase 3 waits for manual approval.',
    );
  });
});

describe('slackMessageOf', () => {
  it('is an incoming-webhook message: the summary as text, a section, a context line, and the link', () => {
    const notification = notificationOf(events['rollback-failed']!, {
      releaseId: 'bsi-26.3',
      links: { workflow: 'http://ui/w' },
    })!;
    const message = slackMessageOf(notification);
    expect(SlackMessageSchema.parse(message)).toEqual(message);
    expect(message.text).toBe(notification.summary);
    expect(message.blocks).toEqual([
      { type: 'section', text: { type: 'mrkdwn', text: `:x: ${notification.summary}` } },
      {
        type: 'context',
        elements: [
          {
            type: 'mrkdwn',
            text:
              '*rollback-failed* · rollout `r-hooks` · release `bsi-26.3` · class `phone-a` · event `r-hooks/phone-a/13` · ' +
              '2026-12-07T10:00:00.000Z',
          },
        ],
      },
      { type: 'section', text: { type: 'mrkdwn', text: '<http://ui/w|Open the workflow>' } },
    ]);
  });

  it("escapes Slack's control characters in the summary", () => {
    const event = events['fleet-halted']!;
    const halted = { ...event, data: { ...event.data, reason: 'a <b> & c' } } as typeof event;
    const section = slackMessageOf(notificationOf(halted)!).blocks[0] as { text: { text: string } };
    expect(section.text.text).toContain('a &lt;b&gt; &amp; c');
  });
});
