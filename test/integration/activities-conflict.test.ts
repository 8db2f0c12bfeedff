// Conflicts are loud, against the real broker: the append activity refuses a second content for an event id
// it appended (non-retryable `EventConflict`, nothing sent), an exact repeat goes through and is dropped by
// the reader, and a conflicting record written behind the activity's back is reported by the reader.
import { ApplicationFailure } from '@temporalio/common';
import type { Producer } from 'kafkajs';
import { createActivities, createEventLogProducer, NON_RETRYABLE_FAILURES } from '../../activities';
import { makeEvent, type EventOf } from '../../events/domain-events';
import { readRolloutLog } from '../../replay/read-log';
import { testKafka } from '../support/endpoints';
import { createTopicsAndWait } from '../support/kafka-admin';
import { uniqueName } from '../support/unique-name';

jest.setTimeout(90_000);

const kafka = testKafka(uniqueName('conflict-test'));
let producer: Producer;
let topic: string;

beforeEach(async () => {
  topic = uniqueName('conflict-events');
  const admin = kafka.admin();
  await admin.connect();
  await createTopicsAndWait(admin, [{ topic, numPartitions: 3 }]);
  await admin.disconnect();
  producer = createEventLogProducer(kafka);
  await producer.connect();
});

afterEach(async () => {
  await producer.disconnect();
});

const accepted = (rolloutId: string, command: 'pause' | 'resume', seq = 7) =>
  makeEvent<EventOf<'operator-command-accepted'>>({
    rolloutId,
    lane: 'phone-a',
    seq,
    at: '2026-11-27T12:00:00.000Z',
    type: 'operator-command-accepted',
    data: { command },
    actor: 'sre@example.com',
    reason: 'conflict test',
  });

test('the same id with another content is refused non-retryably, and nothing reaches the log', async () => {
  const rolloutId = uniqueName('r');
  const activities = createActivities({ producer, topics: { rolloutEvents: topic, commands: `${topic}-unused` } });
  const first = accepted(rolloutId, 'pause');
  await expect(activities.appendEvents([first])).resolves.toEqual({ published: 1 });
  // A retry with the same content is harmless.
  await expect(activities.appendEvents([first])).resolves.toEqual({ published: 1 });

  const conflicting = accepted(rolloutId, 'resume');
  expect(conflicting.eventId).toBe(first.eventId);
  const refusal = await activities.appendEvents([conflicting]).then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(refusal).toBeInstanceOf(ApplicationFailure);
  expect((refusal as ApplicationFailure).type).toBe(NON_RETRYABLE_FAILURES.eventConflict);
  expect((refusal as ApplicationFailure).nonRetryable).toBe(true);
  // Two contents for one id inside one call are refused too.
  await expect(
    activities.appendEvents([accepted(rolloutId, 'pause', 8), accepted(rolloutId, 'resume', 8)]),
  ).rejects.toMatchObject({
    type: 'EventConflict',
  });

  const log = await readRolloutLog(kafka, topic, rolloutId);
  expect(log.events).toEqual([first]);
  expect(log.duplicates).toBe(1);
  expect(log.conflicts).toEqual([]);
});

test('a conflicting record written by another producer is reported by the reader, not dropped', async () => {
  const rolloutId = uniqueName('r');
  const activities = createActivities({ producer, topics: { rolloutEvents: topic, commands: `${topic}-unused` } });
  const first = accepted(rolloutId, 'pause');
  await activities.appendEvents([first]);
  // Another worker process (fresh activities instance) knows nothing of the first append.
  const elsewhere = createActivities({ producer, topics: { rolloutEvents: topic, commands: `${topic}-unused` } });
  await elsewhere.appendEvents([accepted(rolloutId, 'resume')]);

  const log = await readRolloutLog(kafka, topic, rolloutId);
  expect(log.events).toEqual([first]);
  expect(log.conflicts).toHaveLength(1);
  expect(log.conflicts[0]).toMatchObject({ eventId: first.eventId, diff: ['data.command: "pause" → "resume"'] });
});
