/**
 * The Temporal adapter: client and worker connections built from validated config, with mTLS
 * material read from files or an API key (Temporal Cloud). Every process connects through here, so
 * TLS is configured once, by environment, the same way for the CLI, the worker and the ingest.
 */
import { readFileSync } from 'node:fs';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import type { TemporalConfig } from '../config/env';

type Tls = {
  serverNameOverride?: string;
  serverRootCACertificate?: Buffer;
  clientCertPair?: { crt: Buffer; key: Buffer };
};

/** TLS options from config: `undefined` for plain TCP, an object (possibly empty, system roots) otherwise. */
function tlsOf(config: TemporalConfig): Tls | undefined {
  if (!config.tls) return config.apiKey ? {} : undefined;
  const { certFile, keyFile, caFile, serverName } = config.tls;
  return {
    ...(serverName && { serverNameOverride: serverName }),
    ...(caFile && { serverRootCACertificate: readFileSync(caFile) }),
    ...(certFile && keyFile && { clientCertPair: { crt: readFileSync(certFile), key: readFileSync(keyFile) } }),
  };
}

/** Connection options shared by the client and the worker's native connection. */
export function connectionOptions(config: TemporalConfig): { address: string; tls?: Tls; apiKey?: string } {
  const tls = tlsOf(config);
  return { address: config.address, ...(tls && { tls }), ...(config.apiKey && { apiKey: config.apiKey }) };
}

/** Opens a client connection to the configured Temporal frontend and returns a namespaced client. */
export async function connectClient(config: TemporalConfig): Promise<Client> {
  const connection = await Connection.connect({ ...connectionOptions(config), connectTimeout: 5000 });
  return new Client({ connection, namespace: config.namespace });
}

/** Opens the native (Rust core) connection a Worker polls through. */
export async function connectWorker(config: TemporalConfig): Promise<NativeConnection> {
  return NativeConnection.connect(connectionOptions(config));
}
