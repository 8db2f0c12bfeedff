// Determinism guard: every committed workflow history (test/fixtures/histories, exported by the scenario tests; run
// them with UPDATE_HISTORY_FIXTURES=1 to add the current code's histories beside the older ones, which are never
// replaced) replays against the current workflow code. A change that would
// break running workflows — a reordered command, a removed timer, an activity added without `patched()` — fails here.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { Worker } from '@temporalio/worker';
import { FIXTURES_DIR, decodeFixture, workflowBundle, type HistoryFixture } from '../support/rollout-harness';

describe('replay determinism', () => {
  it('replays every committed history fixture against the current workflows', async () => {
    const files = readdirSync(FIXTURES_DIR)
      .filter((f) => f.endsWith('.json'))
      .sort();
    expect(files.length).toBeGreaterThanOrEqual(10);
    const fixtures = files.map((file) => ({
      file,
      fixture: JSON.parse(readFileSync(path.join(FIXTURES_DIR, file), 'utf8')) as HistoryFixture,
    }));
    // Both workflow types and the interesting paths are covered.
    const types = new Set(fixtures.flatMap(({ fixture }) => fixture.eventTypes));
    for (const needed of [
      'EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED',
      'EVENT_TYPE_TIMER_FIRED',
      'EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED',
      'EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED',
    ]) {
      expect(types).toContain(needed);
    }
    const histories = fixtures.map(({ fixture }) => ({
      workflowId: fixture.workflowId,
      history: decodeFixture(fixture),
    }));
    const failures: string[] = [];
    let replayed = 0;
    for await (const result of Worker.runReplayHistories({ workflowBundle: await workflowBundle() }, histories)) {
      replayed++;
      if (result.error) failures.push(`${result.workflowId}: ${String(result.error)}`);
    }
    expect(failures).toEqual([]);
    expect(replayed).toBe(files.length);
  }, 120_000);
});
