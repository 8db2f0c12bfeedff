/**
 * `rollout serve`: the HTTP API as a process. Reads the engine's configuration and the API's own (`settings.ts`),
 * connects to Temporal (commands, status) and Kafka (event log, postmortems), sets up the trusted issuers (an OIDC
 * issuer's remote JWKS, the local dev issuer) and the static tokens, and listens. `startApi` is the same thing as a
 * function, for tests that run the API in process.
 */
import type { Client } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { createRemoteJWKSet } from 'jose';
import { loadConfig, type Config } from '../config/env';
import { loadLimits } from '../config/limits';
import { createKafka } from '../kafka/client';
import { createLogger, type Logger } from '../observability/log';
import { connectClient } from '../temporal/connection';
import { Authenticator, loadTokensFile, type TrustedIssuer } from './auth';
import { engineBackend } from './backend';
import { DevIssuer, devIssuerFile } from './dev-issuer';
import { buildServer } from './server';
import { loadApiSettings } from './settings';

/** Where to listen, and the environment to read (default: the process's). */
export interface StartApiOptions {
  port: number;
  host: string;
  env?: Readonly<Record<string, string | undefined>>;
  logger?: Logger;
  /** The Temporal client to use (default: one connected from the configuration, closed with the API). */
  client?: Client;
}

/** A running API. */
export interface RunningApi {
  url: string;
  app: FastifyInstance;
  config: Config;
  /** The dev issuer, when `BSI_API_DEV_ISSUER=1`. */
  devIssuer: DevIssuer | undefined;
  close(): Promise<void>;
}

/** Starts the API and resolves once it listens. Throws `ConfigError` for bad settings (nothing is left open). */
export async function startApi(options: StartApiOptions): Promise<RunningApi> {
  const env = options.env ?? process.env;
  const config = loadConfig(env);
  const settings = loadApiSettings(env);
  const limits = loadLimits(env);
  const logger = options.logger ?? createLogger('api');
  const issuers: TrustedIssuer[] = [];
  if (settings.oidc) {
    issuers.push({ issuer: settings.oidc.issuer, keys: createRemoteJWKSet(new URL(settings.oidc.jwksUrl)) });
  }
  let devIssuer: DevIssuer | undefined;
  if (settings.devIssuer) {
    devIssuer = await DevIssuer.generate(settings.audience);
    devIssuer.save(devIssuerFile(env));
    issuers.push({ issuer: devIssuer.issuer, keys: devIssuer.keys() });
  }
  const tokens = settings.tokensFile === undefined ? [] : loadTokensFile(settings.tokensFile);
  const auth = new Authenticator({ issuers, audience: settings.audience, rolesClaim: settings.rolesClaim, tokens });
  const client = options.client ?? (await connectClient(config.temporal));
  const kafka = createKafka(config.kafka, { clientId: 'bsi-rollout-api' });
  const app = await buildServer({
    backend: engineBackend(client, kafka, config, limits.maxActiveRollouts),
    auth,
    ...(devIssuer !== undefined && { jwks: () => devIssuer.jwks() }),
    bodyLimit: settings.bodyLimit,
    commandsPerMinute: settings.commandsPerMinute,
    logger,
    console: { temporalUiUrl: config.temporal.uiUrl, namespace: config.temporal.namespace },
  });
  try {
    await app.listen({ port: options.port, host: options.host });
  } catch (err) {
    if (options.client === undefined) await client.connection.close();
    throw err;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : options.port;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  const url = `http://${host}:${port}`;
  logger.info(
    {
      url,
      console: `${url}/console/`,
      namespace: config.temporal.namespace,
      oidcIssuer: settings.oidc?.issuer ?? null,
      staticTokens: tokens.length,
      devIssuer: devIssuer !== undefined,
    },
    'API listening',
  );
  if (devIssuer) {
    logger.info(
      { jwks: `${url}/.well-known/jwks.json`, keyFile: devIssuerFile(env) },
      'dev issuer on: mint a token with `rollout dev-token --sub <you> --role admin`',
    );
  }
  return {
    url,
    app,
    config,
    devIssuer,
    async close() {
      await app.close();
      if (options.client === undefined) await client.connection.close();
    },
  };
}

/** Runs the API until SIGINT or SIGTERM, then closes it (in-flight requests finish, streams end). */
export async function serveMain(options: { port: number; host: string }): Promise<void> {
  const api = await startApi(options);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await api.close();
}
