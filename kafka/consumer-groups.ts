// Consumer-group readiness: a reader that is still joining its group reads nothing yet.
import type { Kafka } from 'kafkajs';

/**
 * Waits until every named consumer group has finished joining: state Stable with at least one member (its partitions
 * assigned). Polls every 250 ms; throws with each group's last state after `timeoutMs`.
 */
export async function waitForConsumerGroups(kafka: Kafka, groupIds: string[], timeoutMs = 60_000): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      const { groups } = await admin.describeGroups(groupIds).catch(() => ({ groups: [] }));
      if (groups.length === groupIds.length && groups.every((g) => g.state === 'Stable' && g.members.length > 0)) {
        return;
      }
      last = groups.map((g) => `${g.groupId}: ${g.state} (${g.members.length} members)`).join(', ');
      if (Date.now() > deadline) throw new Error(`consumer groups not ready after ${timeoutMs} ms: ${last}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  } finally {
    await admin.disconnect();
  }
}
