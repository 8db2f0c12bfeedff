// The local Kafka: one KRaft node (broker + controller) on 127.0.0.1, run from the cached Maven jars.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { ensureKafkaJars, run } from './install';
import { dataPaths, portFromEnv } from './paths';
import type { PidRecord } from './process';
import { pidAlive, spawnDetached, tail, waitUntil, writePidFile } from './process';

export const KAFKA_PORT = portFromEnv('BSI_KAFKA_PORT', 9092);
export const KAFKA_CONTROLLER_PORT = portFromEnv('BSI_KAFKA_CONTROLLER_PORT', 9093);
export const LOCAL_KAFKA_BROKERS = [`127.0.0.1:${KAFKA_PORT}`];

/** Files of the local broker. */
export function kafkaFiles() {
  const d = dataPaths();
  return {
    pidFile: path.join(d.pids, 'kafka.pid'),
    serverProperties: path.join(d.run, 'kafka', 'server.properties'),
    log4j: path.join(d.run, 'kafka', 'log4j2.properties'),
    log: path.join(d.logs, 'kafka.log'),
    stdout: path.join(d.logs, 'kafka.out'),
    dataDir: d.kafkaData,
  };
}

/**
 * True when a broker at `brokers` answers a metadata request (kafkajs admin `describeCluster`) within a few seconds.
 * Never throws.
 */
export async function kafkaAnswers(brokers: string[]): Promise<boolean> {
  const kafka = new Kafka({
    clientId: 'bsi-servers-health',
    brokers,
    connectionTimeout: 1000,
    requestTimeout: 3000,
    retry: { retries: 0 },
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    return cluster.brokers.length > 0;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

function serverProperties(dataDir: string): string {
  return [
    '# Written by scripts/servers on every start; edit scripts/servers/kafka.ts instead.',
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@127.0.0.1:${KAFKA_CONTROLLER_PORT}`,
    `listeners=PLAINTEXT://127.0.0.1:${KAFKA_PORT},CONTROLLER://127.0.0.1:${KAFKA_CONTROLLER_PORT}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${KAFKA_PORT}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
    `log.dirs=${dataDir}`,
    // Topics are created explicitly, with their settings (the event log keeps forever), never by a stray produce.
    'auto.create.topics.enable=false',
    'num.partitions=6',
    'default.replication.factor=1',
    'min.insync.replicas=1',
    'offsets.topic.replication.factor=1',
    'offsets.topic.num.partitions=12',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'share.coordinator.state.topic.replication.factor=1',
    'share.coordinator.state.topic.min.isr=1',
    // A single-node dev broker: consumer groups form at once instead of waiting 3 s for more members.
    'group.initial.rebalance.delay.ms=0',
    '',
  ].join('\n');
}

function log4jProperties(logFile: string): string {
  return [
    'status = warn',
    'appender.file.type = RollingFile',
    'appender.file.name = file',
    `appender.file.fileName = ${logFile}`,
    `appender.file.filePattern = ${logFile}.%i`,
    'appender.file.layout.type = PatternLayout',
    'appender.file.layout.pattern = [%d] %p %m (%c)%n',
    'appender.file.policies.type = Policies',
    'appender.file.policies.size.type = SizeBasedTriggeringPolicy',
    'appender.file.policies.size.size = 20MB',
    'appender.file.strategy.type = DefaultRolloverStrategy',
    'appender.file.strategy.max = 3',
    'rootLogger.level = info',
    'rootLogger.appenderRef.file.ref = file',
    'logger.request.name = kafka.request.logger',
    'logger.request.level = warn',
    '',
  ].join('\n');
}

function javaCommand(): string {
  return process.env.JAVA_HOME ? path.join(process.env.JAVA_HOME, 'bin', 'java') : 'java';
}

/**
 * Starts the local broker and resolves once it answers metadata requests. Formats the KRaft storage on first use
 * (a fresh cluster id) and keeps it afterwards, so a restart finds its topics and offsets again.
 */
export async function launchKafka(log: (line: string) => void): Promise<PidRecord> {
  const libs = await ensureKafkaJars(log);
  const f = kafkaFiles();
  fs.mkdirSync(path.dirname(f.serverProperties), { recursive: true });
  fs.mkdirSync(f.dataDir, { recursive: true });
  fs.writeFileSync(f.serverProperties, serverProperties(f.dataDir));
  fs.writeFileSync(f.log4j, log4jProperties(f.log));
  const classpath = path.join(libs, '*');
  const java = javaCommand();
  const log4jOpt = `-Dlog4j2.configurationFile=${f.log4j}`;
  if (!fs.existsSync(path.join(f.dataDir, 'meta.properties'))) {
    const clusterId = crypto.randomBytes(16).toString('base64url');
    await run(
      java,
      [
        '-Xmx256m',
        log4jOpt,
        '-cp',
        classpath,
        'kafka.tools.StorageTool',
        'format',
        '-t',
        clusterId,
        '-c',
        f.serverProperties,
      ],
      { logFile: f.stdout },
    );
  }
  const heap = (process.env.KAFKA_HEAP_OPTS ?? '-Xms256m -Xmx512m').split(/\s+/).filter(Boolean);
  const args = [
    ...heap,
    '-XX:+UseG1GC',
    '-XX:MaxGCPauseMillis=20',
    '-Djava.awt.headless=true',
    log4jOpt,
    `-Dkafka.logs.dir=${path.dirname(f.log)}`,
    '-cp',
    classpath,
    'kafka.Kafka',
    f.serverProperties,
  ];
  const pid = spawnDetached(java, args, { cwd: path.dirname(f.serverProperties), logFile: f.stdout });
  const rec: PidRecord = {
    pid,
    marker: f.serverProperties,
    startedAt: new Date().toISOString(),
    command: [java, ...args],
  };
  writePidFile(f.pidFile, rec);
  const ok = await waitUntil(async () => {
    if (!pidAlive(pid))
      throw new Error(`Kafka exited during start-up; see ${f.stdout} and ${f.log}\n${tail(f.stdout)}`);
    return kafkaAnswers(LOCAL_KAFKA_BROKERS);
  }, 90_000);
  if (!ok) throw new Error(`Kafka did not answer within 90 s; see ${f.log}\n${tail(f.log)}`);
  return rec;
}
