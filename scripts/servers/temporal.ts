// The local Temporal dev server: `temporal server start-dev` on 127.0.0.1 with a SQLite file and its Web UI.
import fs from 'node:fs';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { ensureTemporalBinaries } from './install';
import { dataPaths, portFromEnv } from './paths';
import type { PidRecord } from './process';
import { pidAlive, spawnDetached, tail, waitUntil, writePidFile } from './process';

export const TEMPORAL_PORT = portFromEnv('BSI_TEMPORAL_PORT', 7233);
export const LOCAL_TEMPORAL_ADDRESS = `127.0.0.1:${TEMPORAL_PORT}`;
/** The dev server's Web UI, where the links the product prints (`TEMPORAL_UI_URL`) point. */
export const TEMPORAL_UI_PORT = portFromEnv('BSI_TEMPORAL_UI_PORT', 8233);

/** Namespace the tests and the product use unless TEMPORAL_NAMESPACE says otherwise. */
export function temporalNamespace(): string {
  return process.env.TEMPORAL_NAMESPACE || 'default';
}

/** Files of the local dev server. */
export function temporalFiles() {
  const d = dataPaths();
  return { pidFile: path.join(d.pids, 'temporal.pid'), log: path.join(d.logs, 'temporal.log'), db: d.temporalDb };
}

/** True when a Temporal frontend at `address` describes `namespace` within a few seconds. Never throws. */
export async function temporalAnswers(address: string, namespace: string): Promise<boolean> {
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({ address, connectTimeout: 2000 });
    await connection.workflowService.describeNamespace({ namespace });
    return true;
  } catch {
    return false;
  } finally {
    await connection?.close().catch(() => undefined);
  }
}

/**
 * Starts the dev server and resolves once it describes the namespace. Workflow Update is switched on explicitly
 * (the operator commands are Updates), including the async-accepted form; activities are dispatched eagerly; and the
 * SQLite file is written in WAL mode with `synchronous=NORMAL` (see below). Nothing else is changed from the defaults.
 */
export async function launchTemporal(log: (line: string) => void): Promise<PidRecord> {
  const { cli } = await ensureTemporalBinaries(log);
  const f = temporalFiles();
  fs.mkdirSync(path.dirname(f.db), { recursive: true });
  const namespace = temporalNamespace();
  const args = [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(TEMPORAL_PORT),
    // The Web UI stays on: `rollout start` and `rollout status` print links into it. No internet here, so the
    // UI does not fetch its news feed.
    '--ui-port',
    String(TEMPORAL_UI_PORT),
    '--ui-disable-news-fetch',
    '--db-filename',
    f.db,
    // SQLite's default rollback journal syncs the disk several times per transaction and blocks readers while it
    // writes; every signal, task and activity of every workflow is one such transaction, so the journal (not
    // the CPU) set the pace of the whole engine. WAL with synchronous=NORMAL commits without a sync and still
    // survives a crash or kill of the server (only an OS crash or power cut may lose the last commits).
    '--sqlite-pragma',
    'journal_mode=wal',
    '--sqlite-pragma',
    'synchronous=normal',
    '--namespace',
    namespace,
    '--dynamic-config-value',
    'frontend.enableUpdateWorkflowExecution=true',
    '--dynamic-config-value',
    'frontend.enableUpdateWorkflowExecutionAsyncAccepted=true',
    // Eager activity dispatch: an activity a workflow task schedules on its own task queue comes back in the
    // task's completion response, skipping the matching round trip (the halt path's append is one such).
    '--dynamic-config-value',
    'system.enableActivityEagerExecution=true',
    '--log-level',
    'warn',
  ];
  // The CLI reads TEMPORAL_* variables as flag defaults; the server must not inherit a client's settings.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TEMPORAL_')));
  const pid = spawnDetached(cli, args, { cwd: path.dirname(f.db), logFile: f.log, env });
  const rec: PidRecord = { pid, marker: f.db, startedAt: new Date().toISOString(), command: [cli, ...args] };
  writePidFile(f.pidFile, rec);
  const ok = await waitUntil(async () => {
    if (!pidAlive(pid)) {
      throw new Error(`Temporal exited during start-up; see ${f.log}\n${tail(f.log)}`);
    }
    return temporalAnswers(LOCAL_TEMPORAL_ADDRESS, namespace);
  }, 60_000);
  if (!ok) throw new Error(`Temporal did not answer within 60 s; see ${f.log}\n${tail(f.log)}`);
  return rec;
}
