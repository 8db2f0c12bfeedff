// Command line of the server manager:
//   npx tsx scripts/servers.ts up|down|status|install|reset|test-server-path [--only kafka,temporal] [--started-file F]
import fs from 'node:fs';
import path from 'node:path';
import type { ServerName, ServerReport } from './servers/index';
import { SERVER_NAMES, UpError, dataDir, down, install, status, timeSkippingServerPath, up } from './servers/index';
import { dataPaths } from './servers/paths';

const USAGE = `usage: tsx scripts/servers.ts <command> [--only kafka,temporal] [--started-file FILE]
  up                start Kafka and Temporal (or reuse them), wait until they answer
  down              stop the servers this clone started (pid files), free their ports
  status            print JSON: endpoint, pid, answering, logs per server
  install           download what the servers need into the cache, start nothing
  reset             down, then delete the servers' data (Kafka log dirs, Temporal SQLite)
  test-server-path  print the path of the time-skipping test server (installing it if needed)
--started-file FILE (up) writes the names of the servers this call started, comma-separated, so a caller can stop
exactly those afterwards (make test does).`;

function parseArgs(argv: string[]) {
  const [command, ...rest] = argv;
  let only: ServerName[] | undefined;
  let startedFile: string | undefined;
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i];
    if (arg === '--only') {
      const names = (rest[++i] ?? '').split(',').filter(Boolean);
      const unknown = names.filter((n) => !(SERVER_NAMES as readonly string[]).includes(n));
      if (unknown.length > 0) throw new Error(`unknown server(s): ${unknown.join(', ')}\n${USAGE}`);
      only = names as ServerName[];
    } else if (arg === '--started-file') {
      startedFile = rest[++i];
    } else {
      throw new Error(`unknown argument ${arg}\n${USAGE}`);
    }
  }
  return { command, only, startedFile };
}

const log = (line: string) => console.log(`[servers] ${line}`);

function printUp(reports: ServerReport[]): void {
  for (const r of reports) {
    const how = {
      started: `started in ${((r.startMs ?? 0) / 1000).toFixed(1)} s (pid ${r.pid})`,
      reused: `already running (pid ${r.pid}), reused`,
      foreign: 'answering, not started by this clone (left alone by down)',
      env: 'from the environment, nothing started',
    }[r.state];
    log(`${r.name.padEnd(8)} ${r.endpoint.padEnd(16)} ${how}`);
    for (const file of r.logs) log(`${' '.repeat(8)} log: ${path.relative(process.cwd(), file) || file}`);
  }
}

function writeStarted(file: string | undefined, reports: ServerReport[]): void {
  if (!file) return;
  const started = reports.filter((r) => r.state === 'started').map((r) => r.name);
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  fs.writeFileSync(file, started.join(','));
}

async function main(): Promise<void> {
  const { command, only, startedFile } = parseArgs(process.argv.slice(2));
  switch (command) {
    case 'up': {
      const t0 = Date.now();
      try {
        const reports = await up({ only, log });
        writeStarted(startedFile, reports);
        printUp(reports);
        log(`up in ${((Date.now() - t0) / 1000).toFixed(1)} s; data and logs under ${dataDir()}`);
      } catch (err) {
        if (err instanceof UpError) writeStarted(startedFile, err.reports);
        throw err;
      }
      return;
    }
    case 'down': {
      for (const r of await down({ only })) {
        const took = r.stopMs === undefined ? '' : ` in ${(r.stopMs / 1000).toFixed(1)} s`;
        log(`${r.name.padEnd(8)} ${r.result}${r.pid ? ` (pid ${r.pid})` : ''}${took}`);
      }
      return;
    }
    case 'status':
      console.log(JSON.stringify(await status({ only }), null, 2));
      return;
    case 'install':
      await install({ only, log });
      log(`installed; time-skipping test server: ${await timeSkippingServerPath()}`);
      return;
    case 'reset': {
      await down({ only });
      const d = dataPaths();
      const names = only ?? SERVER_NAMES;
      if (names.includes('kafka')) fs.rmSync(d.kafkaData, { recursive: true, force: true });
      if (names.includes('temporal')) {
        for (const suffix of ['', '-wal', '-shm']) fs.rmSync(d.temporalDb + suffix, { force: true });
      }
      log(`stopped and wiped: ${names.join(', ')}`);
      return;
    }
    case 'test-server-path':
      console.log(await timeSkippingServerPath());
      return;
    default:
      console.error(USAGE);
      process.exit(2);
  }
}

main().catch((err: unknown) => {
  console.error(`[servers] ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
