/**
 * The HTTP API's settings from the environment, validated at start-up like every process's (a bad value names the
 * variable, its value and the rule): how callers authenticate (an OIDC issuer's JWKS, a file of hashed static
 * tokens, the local dev issuer), and the limits of the surface (body size, commands per minute per identity).
 */
import { z } from 'zod';
import { parseEnv } from '../config/env';

/** Default largest request body: 1 MiB (a plan is a few kilobytes). */
export const DEFAULT_BODY_LIMIT = 1024 * 1024;
/** Default command requests per identity per minute. */
export const DEFAULT_COMMANDS_PER_MINUTE = 60;
/** The audience tokens must name when `BSI_API_AUDIENCE` is not set. */
export const DEFAULT_AUDIENCE = 'bsi-rollout';
/** The issuer the local dev issuer signs as. */
export const DEV_ISSUER = 'bsi-rollout-dev';

const flag = z.enum(['0', '1', 'true', 'false']).transform((v) => v === '1' || v === 'true');

const ApiEnvSchema = z
  .object({
    BSI_API_JWKS_URL: z.url({ protocol: /^https?$/ }).optional(),
    BSI_API_ISSUER: z.string().min(1).max(1000).optional(),
    BSI_API_AUDIENCE: z.string().min(1).max(1000).default(DEFAULT_AUDIENCE),
    BSI_API_ROLES_CLAIM: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_:./-]{0,127}$/)
      .default('bsi_roles'),
    BSI_API_TOKENS_FILE: z.string().min(1).optional(),
    BSI_API_DEV_ISSUER: flag.default(false),
    BSI_API_BODY_LIMIT: z.coerce
      .number()
      .int()
      .min(4096)
      .max(64 * 1024 * 1024)
      .default(DEFAULT_BODY_LIMIT),
    BSI_API_COMMANDS_PER_MINUTE: z.coerce.number().int().min(1).max(1_000_000).default(DEFAULT_COMMANDS_PER_MINUTE),
    NODE_ENV: z.string().optional(),
  })
  .superRefine((e, ctx) => {
    if (e.BSI_API_JWKS_URL !== undefined && e.BSI_API_ISSUER === undefined) {
      ctx.addIssue({ code: 'custom', path: ['BSI_API_ISSUER'], message: 'required with BSI_API_JWKS_URL' });
    }
    if (e.BSI_API_DEV_ISSUER && e.NODE_ENV === 'production') {
      ctx.addIssue({ code: 'custom', path: ['BSI_API_DEV_ISSUER'], message: 'not allowed with NODE_ENV=production' });
    }
    if (e.BSI_API_JWKS_URL === undefined && e.BSI_API_TOKENS_FILE === undefined && !e.BSI_API_DEV_ISSUER) {
      ctx.addIssue({
        code: 'custom',
        path: ['BSI_API_JWKS_URL'],
        message:
          'no way to authenticate: set BSI_API_JWKS_URL with BSI_API_ISSUER (OIDC), BSI_API_TOKENS_FILE ' +
          '(hashed static tokens), or BSI_API_DEV_ISSUER=1 (local development)',
      });
    }
  });

/** The API's settings. */
export interface ApiSettings {
  /** An OIDC issuer whose JWKS verifies bearer JWTs, or undefined. */
  oidc: { jwksUrl: string; issuer: string } | undefined;
  audience: string;
  /** The claim that holds the grants (`[{ role, namespace, classes? }]`). */
  rolesClaim: string;
  tokensFile: string | undefined;
  devIssuer: boolean;
  bodyLimit: number;
  commandsPerMinute: number;
}

/** Reads the API's settings; throws `ConfigError` naming each bad variable, its value and the rule. */
export function loadApiSettings(env: Readonly<Record<string, string | undefined>> = process.env): ApiSettings {
  const e = parseEnv(ApiEnvSchema, env);
  return {
    oidc:
      e.BSI_API_JWKS_URL !== undefined && e.BSI_API_ISSUER !== undefined
        ? { jwksUrl: e.BSI_API_JWKS_URL, issuer: e.BSI_API_ISSUER }
        : undefined,
    audience: e.BSI_API_AUDIENCE,
    rolesClaim: e.BSI_API_ROLES_CLAIM,
    tokensFile: e.BSI_API_TOKENS_FILE,
    devIssuer: e.BSI_API_DEV_ISSUER,
    bodyLimit: e.BSI_API_BODY_LIMIT,
    commandsPerMinute: e.BSI_API_COMMANDS_PER_MINUTE,
  };
}
