/**
 * The API's commands: `rollout serve` (the HTTP API in this process) and `rollout dev-token` (a token from the local
 * dev issuer, for the demo and for trying the API without an identity provider).
 */
import { mintDevToken, devIssuerFile } from '../api/dev-issuer';
import { serveMain } from '../api/main';
import { GrantSchema, ROLES, type Grant } from '../api/roles';
import { loadApiSettings } from '../api/settings';
import { parseDurationSec } from '../events/plan';
import { defaultActor, type CliContext } from './context';
import { UserError } from './errors';

/** `rollout serve [--port 8080] [--host 127.0.0.1]`. */
export async function serveCommand(opts: { port?: string; host?: string }): Promise<void> {
  const port = Number(opts.port ?? '8080');
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UserError(`--port must be a port number (0-65535), got ${opts.port}`);
  }
  await serveMain({ port, host: opts.host ?? '127.0.0.1' });
}

/**
 * Parses `--role` values: `ROLE` (the whole namespace) or `ROLE:class1,class2` (those classes only). A bad value is
 * a `UserError` naming it.
 */
export function parseGrants(values: readonly string[], namespace: string): Grant[] {
  return values.map((value) => {
    const [role, classes] = value.split(':', 2);
    const parsed = GrantSchema.safeParse({
      role,
      namespace,
      ...(classes !== undefined && { classes: classes.split(',').filter((c) => c !== '') }),
    });
    if (!parsed.success) {
      throw new UserError(
        `--role ${JSON.stringify(value)}: expected ROLE or ROLE:class,class with ROLE one of ${ROLES.join(', ')} (${parsed.error.issues[0]?.message ?? ''})`,
      );
    }
    return parsed.data;
  });
}

/** `rollout dev-token [--sub NAME] --role ROLE[:classes] … [--namespace NS] [--ttl 1h]`: prints a dev issuer's token. */
export async function devTokenCommand(
  ctx: CliContext,
  opts: { sub?: string; role?: string[]; namespace?: string; ttl?: string },
): Promise<void> {
  const ttlSec = parseDurationSec(opts.ttl ?? '1h');
  if (ttlSec === undefined || ttlSec < 1)
    throw new UserError(`--ttl must be a duration like 30m or 8h, got ${opts.ttl}`);
  const grants = parseGrants(opts.role ?? ['admin'], opts.namespace ?? ctx.config.temporal.namespace);
  const rolesClaim = loadApiSettings({ ...process.env, BSI_API_DEV_ISSUER: '1' }).rolesClaim;
  const token = await mintDevToken(devIssuerFile(), { sub: opts.sub ?? defaultActor(), grants, ttlSec, rolesClaim });
  process.stdout.write(`${token}\n`);
}
