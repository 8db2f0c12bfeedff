// Fixtures of the API's unit tests: a trusted issuer whose key the test holds (so it can sign any token: valid,
// expired, wrong audience, forged), static tokens, and a fake backend that records what the routes ask of it.
import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT, type JWTPayload, type KeyLike } from 'jose';
import type { FastifyInstance } from 'fastify';
import { Authenticator, tokenSha256, type StaticToken } from '../../api/auth';
import type { RolloutBackend, StartRequest } from '../../api/backend';
import type { Grant, Role } from '../../api/roles';
import { buildServer } from '../../api/server';
import {
  CommandRefusedError,
  UnknownRolloutError,
  type RolloutListing,
  type RolloutStatusView,
  type StartedRollout,
} from '../../client';
import type { CheckedOperatorOperation } from '../../client/operations';
import { validatePlan } from '../../events/plan';
import type { ReplayReport } from '../../replay/postmortem';

export const ISSUER = 'https://issuer.test';
export const AUDIENCE = 'bsi-rollout';
export const NAMESPACE = 'default';

/** A signing key pair and its issuer's JWKS. */
export interface TestKey {
  privateKey: KeyLike;
  jwks: { keys: object[] };
  kid: string;
}

export async function makeKey(kid = 'k1'): Promise<TestKey> {
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  return { privateKey, kid, jwks: { keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' }] } };
}

/** Signs a token; `overrides` replace the defaults (sub alice, 1 h, the test issuer and audience). */
export async function sign(
  key: TestKey,
  grants: readonly Grant[],
  overrides: { sub?: string; iss?: string; aud?: string; expSec?: number; nbfSec?: number; extra?: JWTPayload } = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({ bsi_roles: grants, ...overrides.extra })
    .setProtectedHeader({ alg: 'ES256', kid: key.kid })
    .setIssuer(overrides.iss ?? ISSUER)
    .setAudience(overrides.aud ?? AUDIENCE)
    .setSubject(overrides.sub ?? 'alice')
    .setIssuedAt(now)
    .setExpirationTime(now + (overrides.expSec ?? 3600));
  if (overrides.nbfSec !== undefined) jwt.setNotBefore(now + overrides.nbfSec);
  return jwt.sign(key.privateKey);
}

/** A grant of `role` in the test namespace (optionally for some classes). */
export function grant(role: Role, classes?: string[], namespace = NAMESPACE): Grant {
  return { role, namespace, ...(classes !== undefined && { classes }) };
}

/** The static token of the fixtures: its secret, and its stored form (name `ci-bot`, operator). */
export const STATIC_SECRET = 'bsi_static_0123456789abcdef0123456789abcdef';
export const STATIC_TOKEN: StaticToken = {
  name: 'ci-bot',
  sha256: tokenSha256(STATIC_SECRET),
  roles: [grant('operator')],
};

export const PLAN_YAML = `releaseId: bsi-test
artifact: { build: 26.3.1 }
deviceClasses: [phone-a, laptop-x1]
phases:
  - { share: 1, bake: 10m }
  - { share: 100, bake: 0, approval: manual }
thresholds: { maxFailureRate: 0.02, minSample: 200, installTimeoutSec: 1800 }
breachPolicy: { action: pause }
`;

/** A rollout status the fake answers with. */
export function statusView(
  rolloutId: string,
  status: RolloutStatusView['status'],
  updatedAt = 't0',
): RolloutStatusView {
  return {
    rolloutId,
    codeVersion: null,
    releaseId: 'bsi-test',
    status,
    startedAt: '2026-12-01T00:00:00.000Z',
    updatedAt,
    halts: 0,
    breachedLanes: [],
    lanes: [],
  };
}

/** Rollout ids the fake treats specially. */
export const UNKNOWN = 'no-such-rollout';
export const REFUSING = 'refusing-rollout';

/** A backend that records calls; `statuses` scripts what the status stream sees, one per poll. */
export class FakeBackend implements RolloutBackend {
  readonly namespace = NAMESPACE;
  readonly commands: CheckedOperatorOperation[] = [];
  readonly starts: StartRequest[] = [];
  statuses: RolloutStatusView[] = [];

  list(limit: number): Promise<RolloutListing[]> {
    return Promise.resolve(
      Array.from({ length: Math.min(limit, 2) }, (_, i) => ({
        rolloutId: `r-${i}`,
        workflowId: `rollout/r-${i}`,
        executionStatus: 'RUNNING',
        codeVersion: null,
        startTime: '2026-12-01T00:00:00.000Z',
        closeTime: null,
      })),
    );
  }

  status(rolloutId: string): Promise<RolloutStatusView> {
    if (rolloutId === UNKNOWN) return Promise.reject(new UnknownRolloutError(rolloutId));
    const next = this.statuses.length > 1 ? this.statuses.shift() : this.statuses[0];
    return Promise.resolve(next ?? statusView(rolloutId, 'running'));
  }

  events(rolloutId: string): ReturnType<RolloutBackend['events']> {
    if (rolloutId === UNKNOWN) return Promise.reject(new UnknownRolloutError(rolloutId));
    return Promise.resolve({ events: [], conflicts: [] });
  }

  report(rolloutId: string): Promise<ReplayReport> {
    if (rolloutId === UNKNOWN) return Promise.reject(new UnknownRolloutError(rolloutId));
    return Promise.resolve({ rolloutId } as unknown as ReplayReport);
  }

  start(request: StartRequest): Promise<StartedRollout> {
    this.starts.push(request);
    const checked = validatePlan(request.plan);
    if (!checked.ok) return Promise.reject(new Error('the route passed an invalid plan'));
    const rolloutId = request.rolloutId ?? 'bsi-test-1';
    return Promise.resolve({ rolloutId, workflowId: `rollout/${rolloutId}`, runId: 'run-1', plan: checked.plan });
  }

  command(op: CheckedOperatorOperation): ReturnType<RolloutBackend['command']> {
    if (op.rolloutId === UNKNOWN) return Promise.reject(new UnknownRolloutError(op.rolloutId));
    if (op.rolloutId === REFUSING) return Promise.reject(new CommandRefusedError('lane phone-a is already paused'));
    this.commands.push(op);
    return Promise.resolve({ accepted: true, eventIds: [`${op.rolloutId}/e-${this.commands.length}`] });
  }
}

/** A server over a fake backend, trusting `key` as the test issuer and the fixtures' static token. */
export async function testServer(
  key: TestKey,
  options: { commandsPerMinute?: number; bodyLimit?: number } = {},
): Promise<{ app: FastifyInstance; backend: FakeBackend }> {
  const backend = new FakeBackend();
  const auth = new Authenticator({
    issuers: [{ issuer: ISSUER, keys: createLocalJWKSet(key.jwks as Parameters<typeof createLocalJWKSet>[0]) }],
    audience: AUDIENCE,
    rolesClaim: 'bsi_roles',
    tokens: [STATIC_TOKEN],
  });
  const app = await buildServer({
    backend,
    auth,
    bodyLimit: options.bodyLimit ?? 1024 * 1024,
    commandsPerMinute: options.commandsPerMinute ?? 1_000_000,
    streamIntervalMs: 1,
    heartbeatMs: 60_000,
  });
  return { app, backend };
}
