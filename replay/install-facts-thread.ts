/**
 * The counting thread of `readInstallFacts`: runs the `OutcomeTracker` over the record chunks the reading thread
 * sends (decode, the per-device state machine, facts), in the order they come, and answers `end` with the result
 * by column. Replay reads and counts at once this way: the reading thread only fetches and copies, so a postmortem
 * costs about what the slower of the two costs instead of their sum.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { DeviceKeys } from '../events/device-keys';
import { columnTransferables, toColumns, type FactColumns, type RecordChunk } from './install-columns';
import { OutcomeTracker, decodeInstallValue, type OfferInfo } from './outcomes';

/** What the reading thread starts the counting thread with. */
export type CountingThreadData = {
  rolloutId: string;
  offers: OfferInfo[];
  secret: Uint8Array;
};

/** Messages to the counting thread, and its answer. */
export type ToCountingThread = { type: 'chunk'; chunk: RecordChunk } | { type: 'end' };
export type FromCountingThread = { type: 'done'; columns: FactColumns; skipped: number };

const port = parentPort;
if (port !== null) {
  const data = workerData as CountingThreadData;
  const offers = new Map(data.offers.map((o) => [o.offerId, o]));
  const tracker = new OutcomeTracker(data.rolloutId, offers, new DeviceKeys(data.secret));
  port.on('message', (message: ToCountingThread) => {
    if (message.type === 'chunk') {
      const { count, bytes, end, partition, offset, timestampMs } = message.chunk;
      const text = Buffer.from(bytes);
      let start = 0;
      for (let i = 0; i < count; i++) {
        const stop = end[i]!;
        const decoded = decodeInstallValue(text.toString('utf8', start, stop));
        start = stop;
        if (decoded !== null) tracker.addDecoded(partition[i]!, offset[i]!, timestampMs[i]!, decoded);
      }
      return;
    }
    const columns = toColumns(offers, tracker.changes, tracker.facts);
    const answer: FromCountingThread = { type: 'done', columns, skipped: tracker.skipped };
    port.postMessage(answer, columnTransferables(columns));
  });
}
