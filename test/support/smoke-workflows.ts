// Workflows for the smoke tests: they prove that signals, updates with validators, queries and timers work on the
// servers the project starts. Runs in the workflow sandbox: imports @temporalio/workflow only.
import { condition, defineQuery, defineSignal, defineUpdate, setHandler, sleep } from '@temporalio/workflow';

export const addItemSignal = defineSignal<[item: string]>('addItem');
export const finishSignal = defineSignal('finish');
/** Sets the item limit and returns the previous one; the validator refuses anything but a positive integer. */
export const setLimitUpdate = defineUpdate<number, [limit: number]>('setLimit');
export const itemsQuery = defineQuery<string[]>('items');

export interface SmokeResult {
  items: string[];
  limit: number;
}

/** Collects items sent by signal until `limit` of them arrived (the limit can be changed by update) or finish. */
export async function collectItems(initialLimit: number): Promise<SmokeResult> {
  const items: string[] = [];
  let limit = initialLimit;
  let finished = false;

  setHandler(addItemSignal, (item) => {
    items.push(item);
  });
  setHandler(finishSignal, () => {
    finished = true;
  });
  setHandler(itemsQuery, () => items);
  setHandler(
    setLimitUpdate,
    (next) => {
      const previous = limit;
      limit = next;
      return previous;
    },
    {
      validator: (next) => {
        if (!Number.isInteger(next) || next < 1) throw new Error(`limit must be a positive integer, got ${next}`);
      },
    },
  );

  await condition(() => finished || items.length >= limit);
  return { items, limit };
}

/** Sleeps a whole day, then reports; on the time-skipping server this takes moments. */
export async function sleepOneDay(): Promise<string> {
  await sleep('24 hours');
  return 'woke after 24h';
}
