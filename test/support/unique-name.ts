// Fresh names per test, so integration tests never share topics, groups, task queues or workflow ids.
import crypto from 'node:crypto';

/**
 * A name nobody used before: `prefix`, the time in base 36 and random hex, e.g. `smoke-events-mbx3k2-9f1c2a`.
 * Only characters legal in Kafka topic names ([a-zA-Z0-9._-]) and Temporal ids; any others in `prefix` become `-`.
 */
export function uniqueName(prefix: string): string {
  const safe = prefix.replace(/[^a-zA-Z0-9._-]/g, '-');
  return `${safe}-${Date.now().toString(36)}-${crypto.randomBytes(3).toString('hex')}`;
}
