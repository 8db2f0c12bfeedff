// The Temporal CLI in tests: the binary the server manager installed (or TEMPORAL_CLI_PATH), pointed at the test's
// Temporal, as an SRE (or an accident) would use it.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ensureTemporalBinaries } from '../../scripts/servers/install';
import { endpoints } from './endpoints';

const run = promisify(execFile);

/** `temporal workflow terminate --workflow-id <id> --reason <reason>` against the test's server and namespace. */
export async function terminateWithCli(workflowId: string, reason: string): Promise<void> {
  const { cli } = await ensureTemporalBinaries();
  const { address, namespace } = endpoints().temporal;
  await run(cli, [
    'workflow',
    'terminate',
    '--workflow-id',
    workflowId,
    '--reason',
    reason,
    '--address',
    address,
    '--namespace',
    namespace,
  ]);
}
