/**
 * The local dev issuer (`BSI_API_DEV_ISSUER=1`), so that `rollout serve` and the demo need no identity provider: an
 * ES256 key pair generated at each start, its public half served as a JWKS at `/.well-known/jwks.json`, the private
 * half written (mode 0600) to `.data/api-dev-issuer.json` so that `rollout dev-token` can mint tokens for it. A
 * restart makes a new key, so tokens minted before it stop working. Never for production (refused with
 * `NODE_ENV=production`): whoever reads the file can mint any identity.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  createLocalJWKSet,
  exportJWK,
  generateKeyPair,
  importJWK,
  SignJWT,
  type JSONWebKeySet,
  type JWK,
  type JWTVerifyGetKey,
} from 'jose';
import { z } from 'zod';
import { UserError } from '../config/user-error';
import { localDataDir } from '../ingest/device-key-secret';
import type { Grant } from './roles';
import { DEV_ISSUER } from './settings';

/** Where the running dev issuer keeps its signing key (under the clone's data directory, `BSI_DATA_DIR`). */
export function devIssuerFile(env: Readonly<Record<string, string | undefined>> = process.env): string {
  return path.join(localDataDir(env), 'api-dev-issuer.json');
}

const KeyFileSchema = z.object({
  issuer: z.string(),
  audience: z.string(),
  kid: z.string(),
  privateJwk: z.looseObject({
    kty: z.literal('EC'),
    crv: z.literal('P-256'),
    d: z.string(),
    x: z.string(),
    y: z.string(),
  }),
});

/** What a dev token says: who, with which grants, for how long. */
export interface DevTokenClaims {
  sub: string;
  grants: readonly Grant[];
  /** Lifetime in seconds (default one hour). */
  ttlSec?: number;
  /** The claim that carries the grants (the API's `BSI_API_ROLES_CLAIM`, default `bsi_roles`). */
  rolesClaim?: string;
}

/** A signing key pair for the dev issuer, with its JWKS. */
export class DevIssuer {
  private constructor(
    readonly issuer: string,
    readonly audience: string,
    readonly kid: string,
    private readonly privateJwk: JWK,
    private readonly publicJwk: JWK,
  ) {}

  /** Makes a fresh ES256 key pair for `issuer` (default `bsi-rollout-dev`) and `audience`. */
  static async generate(audience: string, issuer: string = DEV_ISSUER): Promise<DevIssuer> {
    const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
    const kid = randomUUID();
    const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
    const privateJwk = { ...(await exportJWK(privateKey)), kid, alg: 'ES256' };
    return new DevIssuer(issuer, audience, kid, privateJwk, publicJwk);
  }

  /** The public keys, as `/.well-known/jwks.json` serves them. */
  jwks(): JSONWebKeySet {
    return { keys: [this.publicJwk] };
  }

  /** The key resolver the authenticator verifies this issuer's tokens with. */
  keys(): JWTVerifyGetKey {
    return createLocalJWKSet(this.jwks());
  }

  /** Signs a token for `claims`. */
  async mint(claims: DevTokenClaims): Promise<string> {
    return signWith(this.privateJwk, this.kid, this.issuer, this.audience, claims);
  }

  /** Writes the signing key to `file` (0600) for `rollout dev-token`. */
  save(file: string): void {
    mkdirSync(path.dirname(file), { recursive: true });
    const body = { issuer: this.issuer, audience: this.audience, kid: this.kid, privateJwk: this.privateJwk };
    writeFileSync(file, `${JSON.stringify(body)}\n`, { mode: 0o600 });
  }
}

async function signWith(
  privateJwk: JWK,
  kid: string,
  issuer: string,
  audience: string,
  claims: DevTokenClaims,
): Promise<string> {
  const key = await importJWK(privateJwk, 'ES256');
  return new SignJWT({ [claims.rolesClaim ?? 'bsi_roles']: claims.grants })
    .setProtectedHeader({ alg: 'ES256', kid, typ: 'JWT' })
    .setIssuer(issuer)
    .setAudience(audience)
    .setSubject(claims.sub)
    .setIssuedAt()
    .setExpirationTime(`${claims.ttlSec ?? 3600}s`)
    .sign(key);
}

/**
 * Mints a token with the key of the running dev issuer (`file`, written by `rollout serve` with
 * `BSI_API_DEV_ISSUER=1`). Throws `UserError` when no dev issuer has run.
 */
export async function mintDevToken(file: string, claims: DevTokenClaims): Promise<string> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new UserError(`no dev issuer key at ${file}: start \`BSI_API_DEV_ISSUER=1 rollout serve\` first`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const parsed = KeyFileSchema.safeParse(json);
  if (!parsed.success) throw new UserError(`${file} is not a dev issuer key file; restart the dev issuer`);
  const { issuer, audience, kid, privateJwk } = parsed.data;
  return signWith(privateJwk, kid, issuer, audience, claims);
}
