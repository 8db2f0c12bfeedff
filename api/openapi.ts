/**
 * The OpenAPI 3.1 document of the API, generated from the very zod schemas the server validates with
 * (`z.toJSONSchema`, input side), so the document and the checks cannot disagree. Served at `GET /openapi.json`.
 */
import { z } from 'zod';
import { PLAN_INPUT_SCHEMA, ROUTES, type RouteSpec } from './routes';

const ERROR_BODY = {
  type: 'object',
  required: ['error', 'message'],
  properties: {
    error: { type: 'string', description: 'a stable code: missing-token, bad-signature, forbidden, invalid-plan, …' },
    message: { type: 'string', description: 'why, in a sentence a person reads' },
    problems: { type: 'array', items: { type: 'object' } },
  },
};

const jsonSchema = (schema: z.ZodType): Record<string, unknown> =>
  z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' });

/** OpenAPI parameters (`in: path` / `in: query`) from an object schema. */
function parametersOf(schema: z.ZodType | undefined, where: 'path' | 'query'): object[] {
  if (schema === undefined) return [];
  const doc = jsonSchema(schema) as { properties?: Record<string, object>; required?: string[] };
  return Object.entries(doc.properties ?? {}).map(([name, s]) => ({
    name,
    in: where,
    required: where === 'path' || (doc.required ?? []).includes(name),
    schema: s,
  }));
}

function operationOf(route: RouteSpec): object {
  const responses: Record<string, object> = {
    '200': { description: 'done' },
    '400': { description: 'invalid request (with problems)', content: { 'application/json': { schema: ERROR_BODY } } },
  };
  if (route.role !== 'public') {
    responses['401'] = {
      description: 'not authenticated (why)',
      content: { 'application/json': { schema: ERROR_BODY } },
    };
    responses['403'] = {
      description: 'role lacks permission (why)',
      content: { 'application/json': { schema: ERROR_BODY } },
    };
  }
  if (route.limited) responses['429'] = { description: 'command rate limit of this identity' };
  if (route.body) responses['413'] = { description: 'body larger than the limit' };
  const content: Record<string, object> = {};
  if (route.body) {
    const body = jsonSchema(route.body);
    if (route.url === '/api/v1/rollouts') {
      (body.properties as Record<string, object>).plan = {
        oneOf: [jsonSchema(PLAN_INPUT_SCHEMA), { type: 'string', description: 'the plan as YAML or JSON text' }],
      };
    }
    content['application/json'] = { schema: body };
    for (const type of route.bodyTypes ?? [])
      content[type] = { schema: { type: 'string', description: 'plan (YAML)' } };
  }
  return {
    summary: route.summary,
    'x-required-role': route.role,
    ...(route.role !== 'public' && { security: [{ bearer: [] }] }),
    parameters: [...parametersOf(route.params, 'path'), ...parametersOf(route.query, 'query')],
    ...(route.body && { requestBody: { required: true, content } }),
    responses,
  };
}

/** The whole document. */
export function openApiDocument(): object {
  const paths: Record<string, Record<string, object>> = {};
  for (const route of ROUTES) {
    const path = route.url.replace(/:([A-Za-z]+)/g, '{$1}');
    (paths[path] ??= {})[route.method.toLowerCase()] = operationOf(route);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'bsi-rollout API',
      version: '1',
      description:
        'Start, watch and steer rollouts. Bearer tokens only (OIDC JWT or hashed static token); no cookies, so no CSRF. ' +
        'Roles viewer < operator < approver < admin per namespace and optionally per device class.',
    },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    paths,
  };
}
