// A second, throw-away local Kafka broker that speaks TLS only: an SSL listener and a SASL_SSL listener with
// SCRAM-SHA-256, from the same cached jars as the main broker (kafka.ts), with its own data directory and ports.
// The Kafka transport-security test generates a CA and a broker certificate at test time (openssl, keytool) into a
// temp directory, starts this broker on them, runs the engine through it, and stops it. No key is ever committed.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { ensureKafkaJars, run } from './install';
import { pidAlive, spawnDetached, tail, waitUntil } from './process';

/** Certificates and stores made by {@link makeTlsMaterial}, all under `dir`. */
export interface TlsMaterial {
  dir: string;
  /** PEM of the test CA: what clients trust (`KAFKA_SSL_CA_FILE`). */
  caFile: string;
  /** PKCS#12 key store with the broker's key and certificate (SAN 127.0.0.1, localhost), and its password. */
  keystore: string;
  /** PKCS#12 trust store with the CA (the broker's own inter-broker client uses it). */
  truststore: string;
  password: string;
}

/**
 * Generates a fresh CA and a broker certificate signed by it, valid for a day, for `127.0.0.1` and `localhost`,
 * into `dir` (created if missing): `openssl` for the keys and certificates, `keytool` for the PKCS#12 trust store.
 */
export function makeTlsMaterial(dir: string): TlsMaterial {
  fs.mkdirSync(dir, { recursive: true });
  const p = (name: string) => path.join(dir, name);
  const password = crypto.randomBytes(12).toString('hex');
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  openssl(
    ...['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=bsi-test-ca'],
    ...['-keyout', p('ca.key'), '-out', p('ca.crt'), '-addext', 'basicConstraints=critical,CA:TRUE'],
  );
  openssl(
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    '/CN=localhost',
    '-keyout',
    p('broker.key'),
    '-out',
    p('broker.csr'),
  );
  fs.writeFileSync(
    p('broker.ext'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n',
  );
  openssl(
    ...['x509', '-req', '-in', p('broker.csr'), '-CA', p('ca.crt'), '-CAkey', p('ca.key'), '-CAcreateserial'],
    ...['-out', p('broker.crt'), '-days', '1', '-extfile', p('broker.ext')],
  );
  openssl(
    ...['pkcs12', '-export', '-in', p('broker.crt'), '-inkey', p('broker.key'), '-certfile', p('ca.crt')],
    ...['-name', 'broker', '-out', p('broker.p12'), '-passout', `pass:${password}`],
  );
  execFileSync(
    keytool(),
    [
      ...['-importcert', '-noprompt', '-alias', 'bsi-test-ca', '-file', p('ca.crt')],
      ...['-keystore', p('truststore.p12'), '-storetype', 'PKCS12', '-storepass', password],
    ],
    { stdio: 'pipe' },
  );
  return { dir, caFile: p('ca.crt'), keystore: p('broker.p12'), truststore: p('truststore.p12'), password };
}

function keytool(): string {
  return process.env.JAVA_HOME ? path.join(process.env.JAVA_HOME, 'bin', 'keytool') : 'keytool';
}

function java(): string {
  return process.env.JAVA_HOME ? path.join(process.env.JAVA_HOME, 'bin', 'java') : 'java';
}

/** Where and how the TLS broker listens. */
export interface TlsBrokerOptions {
  tls: TlsMaterial;
  /** SSL listener port (default 19093). */
  sslPort?: number;
  /** SASL_SSL (SCRAM-SHA-256) listener port (default 19095). */
  saslPort?: number;
  /** KRaft controller port, plaintext on 127.0.0.1 (default 19094). */
  controllerPort?: number;
  /** SCRAM user created at format time. */
  scram?: { username: string; password: string };
  log?: (line: string) => void;
}

/** A running TLS broker. */
export interface TlsBroker {
  pid: number;
  /** `127.0.0.1:<sslPort>` */
  sslBroker: string;
  /** `127.0.0.1:<saslPort>` */
  saslBroker: string;
  logFile: string;
  /** SIGTERM, SIGKILL after 20 s; resolves once the process is gone. */
  stop(): Promise<void>;
}

/**
 * Starts the TLS-only broker with its data under `tls.dir` and resolves once a TLS client (trusting the test CA)
 * gets metadata from it. Formats fresh storage every time (with the SCRAM user), so each test gets an empty broker.
 */
export async function startTlsBroker(options: TlsBrokerOptions): Promise<TlsBroker> {
  const { tls } = options;
  const sslPort = options.sslPort ?? 19093;
  const saslPort = options.saslPort ?? 19095;
  const controllerPort = options.controllerPort ?? 19094;
  const scram = options.scram ?? { username: 'bsi', password: 'bsi-secret' };
  const libs = await ensureKafkaJars(options.log ?? (() => undefined));
  const dataDir = path.join(tls.dir, 'kafka-data');
  const props = path.join(tls.dir, 'server.properties');
  const log4j = path.join(tls.dir, 'log4j2.properties');
  const logFile = path.join(tls.dir, 'kafka.log');
  const stdout = path.join(tls.dir, 'kafka.out');
  fs.mkdirSync(dataDir, { recursive: true });
  const store = (prefix: string) => [
    `${prefix}ssl.keystore.type=PKCS12`,
    `${prefix}ssl.keystore.location=${tls.keystore}`,
    `${prefix}ssl.keystore.password=${tls.password}`,
    `${prefix}ssl.key.password=${tls.password}`,
    `${prefix}ssl.truststore.type=PKCS12`,
    `${prefix}ssl.truststore.location=${tls.truststore}`,
    `${prefix}ssl.truststore.password=${tls.password}`,
  ];
  fs.writeFileSync(
    props,
    [
      'process.roles=broker,controller',
      'node.id=1',
      `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
      `listeners=SSL://127.0.0.1:${sslPort},SASL_SSL://127.0.0.1:${saslPort},CONTROLLER://127.0.0.1:${controllerPort}`,
      `advertised.listeners=SSL://127.0.0.1:${sslPort},SASL_SSL://127.0.0.1:${saslPort}`,
      'controller.listener.names=CONTROLLER',
      'inter.broker.listener.name=SSL',
      'listener.security.protocol.map=CONTROLLER:PLAINTEXT,SSL:SSL,SASL_SSL:SASL_SSL',
      ...store(''),
      'ssl.client.auth=none',
      'ssl.endpoint.identification.algorithm=https',
      'sasl.enabled.mechanisms=SCRAM-SHA-256',
      'listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;',
      `log.dirs=${dataDir}`,
      'auto.create.topics.enable=false',
      'num.partitions=6',
      'offsets.topic.replication.factor=1',
      'offsets.topic.num.partitions=6',
      'transaction.state.log.replication.factor=1',
      'transaction.state.log.min.isr=1',
      'share.coordinator.state.topic.replication.factor=1',
      'share.coordinator.state.topic.min.isr=1',
      'group.initial.rebalance.delay.ms=0',
      '',
    ].join('\n'),
  );
  fs.writeFileSync(
    log4j,
    [
      'status = warn',
      'appender.file.type = File',
      'appender.file.name = file',
      `appender.file.fileName = ${logFile}`,
      'appender.file.layout.type = PatternLayout',
      'appender.file.layout.pattern = [%d] %p %m (%c)%n',
      'rootLogger.level = info',
      'rootLogger.appenderRef.file.ref = file',
      '',
    ].join('\n'),
  );
  const classpath = path.join(libs, '*');
  const log4jOpt = `-Dlog4j2.configurationFile=${log4j}`;
  await run(
    java(),
    [
      ...['-Xmx256m', log4jOpt, '-cp', classpath, 'kafka.tools.StorageTool', 'format'],
      ...['-t', crypto.randomBytes(16).toString('base64url'), '-c', props],
      ...['--add-scram', `SCRAM-SHA-256=[name=${scram.username},password=${scram.password}]`],
    ],
    { logFile: stdout },
  );
  const pid = spawnDetached(
    java(),
    [
      '-Xms128m',
      '-Xmx384m',
      '-XX:+UseG1GC',
      '-Djava.awt.headless=true',
      log4jOpt,
      '-cp',
      classpath,
      'kafka.Kafka',
      props,
    ],
    { cwd: tls.dir, logFile: stdout },
  );
  const sslBroker = `127.0.0.1:${sslPort}`;
  const stop = async () => {
    if (!pidAlive(pid)) return;
    process.kill(pid, 'SIGTERM');
    if (!(await waitUntil(() => !pidAlive(pid), 20_000))) {
      process.kill(pid, 'SIGKILL');
      await waitUntil(() => !pidAlive(pid), 10_000);
    }
  };
  const ok = await waitUntil(async () => {
    if (!pidAlive(pid)) throw new Error(`TLS Kafka exited during start-up; see ${stdout}\n${tail(stdout)}`);
    return tlsKafkaAnswers(sslBroker, tls.caFile);
  }, 90_000).catch(async (err: unknown) => {
    await stop();
    throw err;
  });
  if (!ok) {
    await stop();
    throw new Error(`TLS Kafka did not answer within 90 s; see ${logFile}\n${tail(logFile)}`);
  }
  return { pid, sslBroker, saslBroker: `127.0.0.1:${saslPort}`, logFile, stop };
}

/** True when the broker at `broker` answers a metadata request over TLS, trusting only `caFile`. Never throws. */
export async function tlsKafkaAnswers(broker: string, caFile: string): Promise<boolean> {
  const kafka = new Kafka({
    clientId: 'bsi-tls-health',
    brokers: [broker],
    ssl: { ca: [fs.readFileSync(caFile, 'utf8')], rejectUnauthorized: true },
    connectionTimeout: 2000,
    requestTimeout: 3000,
    retry: { retries: 0 },
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
    return (await admin.describeCluster()).brokers.length > 0;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
