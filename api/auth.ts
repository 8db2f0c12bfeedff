/**
 * Authentication of API callers by `Authorization: Bearer <token>`, two kinds of token:
 * - a JWT (OIDC access or ID token) signed by a trusted issuer: verified with `jose` against the issuer's keys (a
 *   remote JWKS, or the local dev issuer's), its `iss`, `aud`, `exp` and `nbf` checked; the identity is `sub`, the
 *   grants come from a claim (default `bsi_roles`);
 * - a static API token for automation: only its SHA-256 is stored (a file named by `BSI_API_TOKENS_FILE`), compared
 *   in constant time; the identity is the token's name.
 * Every failure is a 401 whose message says why (missing token, malformed, bad signature, expired, wrong audience,
 * unknown token), except an issuer's JWKS that does not answer, which is the server's problem (503).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { decodeJwt, errors as joseErrors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import YAML from 'yaml';
import { z } from 'zod';
import { ConfigError } from '../config/env';
import { ActorSchema } from '../events/domain-events';
import { GrantSchema, GrantsSchema, type Identity } from './roles';

/** One trusted issuer: its `iss` and where its keys come from. */
export interface TrustedIssuer {
  issuer: string;
  keys: JWTVerifyGetKey;
}

/** A static API token as stored: a name (the actor), the SHA-256 of the secret (hex), and its grants. */
export const StaticTokenSchema = z
  .object({
    name: ActorSchema,
    sha256: z.string().regex(/^[0-9a-fA-F]{64}$/, 'must be the SHA-256 of the token, 64 hex digits'),
    roles: z.array(GrantSchema).min(1).max(1000),
  })
  .strict();
export type StaticToken = z.infer<typeof StaticTokenSchema>;

/** The tokens file: `{ tokens: [...] }` (JSON or YAML); names are unique. */
export const TokensFileSchema = z
  .object({ tokens: z.array(StaticTokenSchema).max(10_000) })
  .strict()
  .superRefine((file, ctx) => {
    const seen = new Set<string>();
    file.tokens.forEach((t, i) => {
      if (seen.has(t.name)) ctx.addIssue({ code: 'custom', path: ['tokens', i, 'name'], message: 'duplicate name' });
      seen.add(t.name);
    });
  });

/** The SHA-256 of a token, as hex: what a tokens file stores. */
export function tokenSha256(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Reads and validates a tokens file; throws `ConfigError` naming the file and each problem. */
export function loadTokensFile(file: string): StaticToken[] {
  let input: unknown;
  try {
    input = YAML.parse(readFileSync(file, 'utf8'), { maxAliasCount: 100 });
  } catch (err) {
    throw new ConfigError([`BSI_API_TOKENS_FILE=${file}: ${err instanceof Error ? err.message : String(err)}`]);
  }
  const parsed = TokensFileSchema.safeParse(input);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((i) => `BSI_API_TOKENS_FILE=${file}: ${i.path.join('.') || '(root)'}: ${i.message}`),
    );
  }
  return parsed.data.tokens;
}

/** Why a request is not authenticated: the status (401, or 503 when an issuer cannot be asked) and the reason. */
export interface AuthFailure {
  status: 401 | 503;
  error: string;
  message: string;
}

export type AuthResult = { ok: true; identity: Identity } | { ok: false; failure: AuthFailure };

const JWT_SHAPE = /^[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*$/;
/** Longest bearer token read at all. */
const MAX_TOKEN_LENGTH = 16 * 1024;
/** Signature algorithms accepted (never `none`, never HMAC: a public JWKS cannot verify a shared secret). */
const ALGORITHMS = ['ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'EdDSA'];

const unauthorized = (error: string, message: string): AuthResult => ({
  ok: false,
  failure: { status: 401, error, message },
});

/** What the authenticator trusts. */
export interface AuthenticatorOptions {
  issuers: readonly TrustedIssuer[];
  audience: string;
  rolesClaim: string;
  tokens: readonly StaticToken[];
  /** Seconds of clock skew tolerated on `exp` and `nbf` (default 5). */
  clockToleranceSec?: number;
}

/** Turns `Authorization` headers into identities, or into the reason they are refused. */
export class Authenticator {
  private readonly tokens: { token: StaticToken; digest: Buffer }[];

  constructor(private readonly options: AuthenticatorOptions) {
    this.tokens = options.tokens.map((token) => ({ token, digest: Buffer.from(token.sha256.toLowerCase(), 'hex') }));
  }

  /** Authenticates one request by its `Authorization` header. Never throws. */
  async authenticate(header: string | string[] | undefined): Promise<AuthResult> {
    if (header === undefined || header === '') {
      return unauthorized('missing-token', 'missing token: send Authorization: Bearer <token>');
    }
    if (Array.isArray(header)) return unauthorized('malformed-header', 'more than one Authorization header');
    const match = /^Bearer +(\S+) *$/i.exec(header);
    if (!match) return unauthorized('malformed-header', 'the Authorization header must be "Bearer <token>"');
    const token = match[1]!;
    if (token.length > MAX_TOKEN_LENGTH) {
      return unauthorized('malformed-token', `token longer than ${MAX_TOKEN_LENGTH} characters`);
    }
    return JWT_SHAPE.test(token) ? this.verifyJwt(token) : this.matchStatic(token);
  }

  private matchStatic(token: string): AuthResult {
    const digest = createHash('sha256').update(token, 'utf8').digest();
    // Compare against every entry, without stopping early, so timing says nothing about which came close.
    let found: StaticToken | undefined;
    for (const entry of this.tokens) {
      if (timingSafeEqual(entry.digest, digest) && found === undefined) found = entry.token;
    }
    if (found === undefined)
      return unauthorized('unknown-token', 'unknown API token (not a JWT, and no such static token)');
    return { ok: true, identity: { name: found.name, kind: 'token', grants: found.roles } };
  }

  private async verifyJwt(token: string): Promise<AuthResult> {
    let iss: unknown;
    try {
      iss = decodeJwt(token).iss;
    } catch {
      return unauthorized('malformed-token', 'malformed JWT: its header or claims are not base64url JSON');
    }
    const trusted = this.options.issuers.find((i) => i.issuer === iss);
    if (trusted === undefined) {
      const known = this.options.issuers.map((i) => i.issuer).join(', ') || 'none';
      return unauthorized('unknown-issuer', `untrusted issuer ${JSON.stringify(iss ?? null)} (trusted: ${known})`);
    }
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, trusted.keys, {
        issuer: trusted.issuer,
        audience: this.options.audience,
        algorithms: ALGORITHMS,
        requiredClaims: ['sub', 'exp'],
        clockTolerance: this.options.clockToleranceSec ?? 5,
      }));
    } catch (err) {
      return jwtFailure(err, this.options.audience, trusted.issuer);
    }
    const sub = ActorSchema.safeParse(payload.sub);
    if (!sub.success) return unauthorized('malformed-token', 'the token’s sub must be 1-128 characters');
    const claim = payload[this.options.rolesClaim];
    const grants = GrantsSchema.safeParse(claim ?? []);
    if (!grants.success) {
      const issue = grants.error.issues[0];
      return unauthorized(
        'malformed-roles',
        `the token’s ${this.options.rolesClaim} claim is not a list of { role, namespace, classes? }: ` +
          `${issue?.path.join('.') ?? ''} ${issue?.message ?? ''}`.trim(),
      );
    }
    return { ok: true, identity: { name: sub.data, kind: 'jwt', grants: grants.data } };
  }
}

/** The 401 (or 503) for a JWT that `jwtVerify` refused, saying why. */
function jwtFailure(err: unknown, audience: string, issuer: string): AuthResult {
  if (err instanceof joseErrors.JWTExpired) {
    const exp = typeof err.payload.exp === 'number' ? new Date(err.payload.exp * 1000).toISOString() : 'unknown';
    return unauthorized('token-expired', `token expired (exp ${exp})`);
  }
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    if (err.claim === 'aud') return unauthorized('wrong-audience', `wrong audience: the token must name ${audience}`);
    if (err.claim === 'iss') return unauthorized('wrong-issuer', `wrong issuer: expected ${issuer}`);
    if (err.claim === 'nbf') return unauthorized('token-not-yet-valid', 'token not valid yet (nbf is in the future)');
    return unauthorized('invalid-claims', `invalid claim ${err.claim}: ${err.reason}`);
  }
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) {
    return unauthorized('bad-signature', 'bad signature: the token was not signed by the issuer’s key');
  }
  if (err instanceof joseErrors.JWKSNoMatchingKey) {
    return unauthorized('bad-signature', 'bad signature: no key of the issuer matches the token (kid / alg)');
  }
  if (err instanceof joseErrors.JOSEAlgNotAllowed || err instanceof joseErrors.JOSENotSupported) {
    return unauthorized('bad-algorithm', `signature algorithm not accepted (accepted: ${ALGORITHMS.join(', ')})`);
  }
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const network = ['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'ETIMEDOUT', 'EAI_AGAIN', 'EHOSTUNREACH'];
  if (err instanceof joseErrors.JWKSTimeout || (code !== undefined && network.includes(code))) {
    return {
      ok: false,
      failure: { status: 503, error: 'issuer-unreachable', message: `the keys of issuer ${issuer} cannot be fetched` },
    };
  }
  if (err instanceof joseErrors.JWKSInvalid) {
    return {
      ok: false,
      failure: { status: 503, error: 'issuer-keys-invalid', message: `issuer ${issuer} serves an invalid JWKS` },
    };
  }
  const message = err instanceof Error ? err.message : String(err);
  return unauthorized('malformed-token', `malformed JWT: ${message.slice(0, 200)}`);
}
