/**
 * Who may do what through the API. Four roles in rising order — viewer < operator < approver < admin — each granted
 * per Temporal namespace and optionally narrowed to device classes (`{ role: 'approver', namespace: 'default',
 * classes: ['laptop-x1'] }`). A higher role includes every lower one. Reads need viewer; start, pause, resume, retry,
 * rollback, abort and restart need operator; approve needs approver. A grant narrowed to classes covers commands
 * for those classes only: a command for the whole rollout needs a grant without `classes`, and a start needs every
 * class of the plan covered. Pure: the server asks, this answers with a sentence when it refuses.
 */
import { z } from 'zod';
import { DeviceClassSchema } from '../events/install-event';

/** The roles, lowest first. */
export const ROLES = ['viewer', 'operator', 'approver', 'admin'] as const;
export const RoleSchema = z.enum(ROLES);
export type Role = z.infer<typeof RoleSchema>;

/** One grant of a role in a namespace, optionally for some device classes only. */
export const GrantSchema = z
  .object({
    role: RoleSchema,
    namespace: z.string().min(1).max(256),
    classes: z.array(DeviceClassSchema).min(1).max(1000).optional(),
  })
  .strict();
export type Grant = z.infer<typeof GrantSchema>;

/** The grants of one identity (a token's `bsi_roles` claim, a static token's `roles`). */
export const GrantsSchema = z.array(GrantSchema).max(1000);

/** An authenticated caller: the actor recorded in the audit trail, how it proved itself, and its grants. */
export interface Identity {
  /** JWT `sub`, or the static token's name. */
  name: string;
  kind: 'jwt' | 'token';
  grants: readonly Grant[];
}

/** What a request needs: a role in a namespace, for the whole rollout or for some classes. */
export interface Need {
  role: Role;
  namespace: string;
  /** `'all'`: the whole rollout (or any read); else the device classes the request touches. */
  classes: 'all' | readonly string[];
}

/** The answer: allowed, or refused with the reason a 403 body carries. */
export type Permission = { ok: true } | { ok: false; reason: string };

const rank = (role: Role): number => ROLES.indexOf(role);

/** Whether one grant covers `need` for class `cls` (undefined: the whole rollout). */
function covers(grant: Grant, need: Need, cls: string | undefined): boolean {
  if (grant.namespace !== need.namespace || rank(grant.role) < rank(need.role)) return false;
  if (grant.classes === undefined) return true;
  return cls !== undefined && grant.classes.includes(cls);
}

/** How an identity's grants in a namespace read in a refusal: `viewer, operator for laptop-x1`, or `no role`. */
function describeGrants(grants: readonly Grant[], namespace: string): string {
  const here = grants.filter((g) => g.namespace === namespace);
  if (here.length === 0) return `no role in namespace ${namespace}`;
  return here.map((g) => (g.classes === undefined ? g.role : `${g.role} for ${g.classes.join(', ')}`)).join('; ');
}

/**
 * Whether `identity` may do what `need` asks. Reads (viewer) are namespace-wide: a grant narrowed to classes still
 * lets its holder read the rollouts of the namespace. Everything else must be covered class by class, or by a grant
 * without classes for the whole rollout.
 */
export function authorize(identity: Identity, need: Need): Permission {
  const { grants } = identity;
  const refuse = (what: string): Permission => ({
    ok: false,
    reason: `${identity.name} needs role ${need.role} (or higher) in namespace ${need.namespace}${what}; it has ${describeGrants(grants, need.namespace)}`,
  });
  if (need.role === 'viewer') {
    return grants.some((g) => g.namespace === need.namespace) ? { ok: true } : refuse('');
  }
  if (need.classes === 'all') {
    return grants.some((g) => covers(g, need, undefined)) ? { ok: true } : refuse(' for the whole rollout');
  }
  const missing = need.classes.filter((cls) => !grants.some((g) => covers(g, need, cls)));
  return missing.length === 0 ? { ok: true } : refuse(` for class ${missing.join(', ')}`);
}
