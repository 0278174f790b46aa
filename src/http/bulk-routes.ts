// Owns: the /bulk-actions resource as HTTP: asking for one (or a dry run's count), reading one, listing them, with their
// schemas and JSON. Not here: the rules (domain/bulk-action.ts: filters; runtime/bulk-actions.ts: creating, reading,
// running).
// Invariant: the routes only translate; a tenant key sees and acts on its own tenant alone, an admin key on every tenant
// (or the one `filter.tenant` or `?tenant=` names).

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AsyncOpsError } from '../domain/errors.ts';
import { Type, type Static } from '@sinclair/typebox';
import {
  ACTION_STATUSES,
  BULK_ACTION_STATUSES,
  BULK_ACTIONS,
  DELIVERY_FILTER_FIELDS,
  OPERATION_FILTER_FIELDS,
  toBulkActionResource,
} from '../domain/bulk-action.ts';
import type { BulkActionsService } from '../runtime/bulk-actions.ts';
import { cursorAfter, decodeCursor } from './cursors.ts';
import { ID_PREFIXES } from '../domain/ids.ts';
import {
  documentedBodyOf,
  NullableUnion,
  OperationErrorSchema,
  OperationStatusSchema,
  ReadScopeQuery,
  TenantName,
  TenantQuery,
  jsonResponse,
  problemResponses,
} from './schemas.ts';
import { namedTenant, principalOf, readScope } from './tenant.ts';
import { PAGE_LIMIT } from '../config/limits.ts';
import { SUBMIT_FIELDS } from '../runtime/submission.ts';

const tags = ['bulk actions'];
const DateTime = (description: string) => Type.String({ format: 'date-time', description });

export const BulkFilterSchema = Type.Object(
  {
    status: Type.Optional(OperationStatusSchema),
    type: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    error_code: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    created_after: Type.Optional(DateTime('Created at or after this (RFC 3339)')),
    created_before: Type.Optional(DateTime('Created before this (RFC 3339)')),
    tenant: Type.Optional(TenantName('Admin keys only: this tenant alone (default: every tenant)')),
    operation_type: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'replay_deliveries: deliveries of operations of this type' })),
    url: Type.Optional(Type.String({ minLength: 1, maxLength: 2048, description: 'replay_deliveries: deliveries to this webhook URL' })),
  },
  {
    additionalProperties: false,
    description:
      'All set fields must match. retry, cancel and delete take status, type, error_code, created_after, created_before; replay_deliveries (over dead deliveries) takes operation_type, url, created_after, created_before.',
  },
);

const ActionSchema = Type.Union(BULK_ACTIONS.map((a) => Type.Literal(a)));

const PrioritySchema = Type.Optional({
  ...SUBMIT_FIELDS.priority,
  description:
    'retry only: the priority each redriven operation takes, within the tenant’s ceiling as a submit’s (absent: each keeps its own). A low one (say -10) lets live traffic go first.',
});
const DryRunField = Type.Optional(Type.Boolean({ description: 'Only count the matches (200); nothing changes' }));

/**
 * What the route validates: every action with every filter field. Which fields and statuses each action takes is
 * checked by the domain (checkBulkRequest), whose messages name the field and what the action takes instead.
 */
const BulkBodySchema = Type.Object(
  { action: ActionSchema, filter: Type.Optional(BulkFilterSchema), priority: PrioritySchema, dry_run: DryRunField },
  { additionalProperties: false },
);

/** The filter one action takes: its fields, and for an operation action the statuses it applies to. */
function actionFilter(action: (typeof BULK_ACTIONS)[number]) {
  const fields = action === 'replay_deliveries' ? DELIVERY_FILTER_FIELDS : OPERATION_FILTER_FIELDS;
  const properties = Object.fromEntries(
    fields.map((field) => [
      field,
      field === 'status' && action !== 'replay_deliveries'
        ? Type.Optional(
            Type.Union(
              ACTION_STATUSES[action].map((s) => Type.Literal(s)),
              { description: `${action} applies to these` },
            ),
          )
        : BulkFilterSchema.properties[field],
    ]),
  );
  return Type.Optional(Type.Object(properties, { additionalProperties: false }));
}

/**
 * What the OpenAPI document says the route takes: the same rules as BulkBodySchema with checkBulkRequest's, one branch
 * per action (its filter fields and statuses; a priority on a retry alone), so a client generated from it sends what
 * the server accepts.
 */
const BulkBodyDocumented = Type.Union(
  BULK_ACTIONS.map((action) =>
    Type.Object(
      {
        action: Type.Literal(action),
        filter: actionFilter(action),
        ...(action === 'retry' ? { priority: PrioritySchema } : {}),
        dry_run: DryRunField,
      },
      { additionalProperties: false },
    ),
  ),
);

export const BulkActionSchema = Type.Object({
  id: Type.String(),
  action: ActionSchema,
  filter: BulkFilterSchema,
  priority: NullableUnion(Type.Integer({ description: 'retry: the priority each redriven operation takes; null: each keeps its own' })),
  status: Type.Union(BULK_ACTION_STATUSES.map((s) => Type.Literal(s))),
  total: Type.Integer({ description: 'Matches counted when it was created' }),
  processed: Type.Integer(),
  succeeded: Type.Integer({ description: 'Processed and changed' }),
  skipped: Type.Integer({ description: 'Processed but left as they were (changed meanwhile)' }),
  created_by: Type.String({ description: 'The principal that asked for it: `key:` and the first 12 hex digits of the key’s sha256, or `addr:IP`' }),
  tenant: NullableUnion(Type.String({ description: 'The tenant it acts on; null: every tenant (an admin’s)' })),
  created_at: Type.String({ format: 'date-time' }),
  started_at: NullableUnion(Type.String({ format: 'date-time' })),
  finished_at: NullableUnion(Type.String({ format: 'date-time' })),
  error: NullableUnion(OperationErrorSchema),
  links: Type.Object({ self: Type.String() }),
});

const DryRunSchema = Type.Object({ action: ActionSchema, filter: BulkFilterSchema, count: Type.Integer() });

const ListQuery = Type.Object(
  {
    tenant: Type.Optional(TenantQuery),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: PAGE_LIMIT.max, default: PAGE_LIMIT.default })),
    cursor: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: false },
);

const IdParams = Type.Object({ id: Type.String({ maxLength: 200, description: 'Bulk action id (bulk_…)' }) });

export function registerBulkRoutes(app: FastifyInstance, service: BulkActionsService): void {
  const basePath = app.prefix;
  app.post<{ Body: Static<typeof BulkBodySchema> }>('/bulk-actions', {
    config: { rateClass: 'create' },
    schema: {
      tags,
      operationId: 'createBulkAction',
      summary: 'Retry, cancel or delete the operations a filter selects, or replay dead deliveries',
      description:
        'Stored and run in the background in batches (202, `Location`): follow it with GET /bulk-actions/{id}. With `dry_run: true`, only counts the matches (200). Only what exists when it is created is touched.',
      body: BulkBodySchema,
      ...documentedBodyOf(BulkBodyDocumented),
      querystring: ReadScopeQuery,
      response: {
        200: jsonResponse(DryRunSchema, 'The dry run: how many match now'),
        202: jsonResponse(BulkActionSchema, 'Accepted: it runs in the background', { Location: Type.String({ description: 'The bulk action' }) }),
        ...problemResponses([400, 'Not valid (the body, or `?tenant=` naming another tenant than `filter.tenant`): `errors` names each field'], 403),
      },
    },
    handler: async (request, reply) => {
      const filter = filterOf(request);
      const answer = await service.request({
        scope: { tenant: request.tenant, admin: request.admin },
        principal: principalOf(request),
        action: request.body.action,
        filter,
        priority: request.body.priority,
        dryRun: request.body.dry_run === true,
      });
      if (answer.dryRun) return reply.code(200).send({ action: request.body.action, filter, count: answer.count });
      const resource = toBulkActionResource(answer.action, basePath);
      return reply.code(202).header('location', resource.links.self).send(resource);
    },
  });

  app.get<{ Querystring: Static<typeof ListQuery> }>('/bulk-actions', {
    schema: {
      tags,
      operationId: 'listBulkActions',
      summary: 'List bulk actions, newest first',
      description: 'A tenant key lists its own tenant’s; an admin key every tenant’s, or the one `tenant` names.',
      querystring: ListQuery,
      response: {
        200: jsonResponse(Type.Object({ items: Type.Array(BulkActionSchema), next_cursor: NullableUnion(Type.String()) }), 'A page of bulk actions'),
        ...problemResponses(400, 403),
      },
    },
    handler: async (request) => {
      const { limit = PAGE_LIMIT.default, cursor } = request.query;
      const page = await service.list(readScope(request), { limit, beforeId: cursor === undefined ? undefined : decodeCursor(cursor, ID_PREFIXES.bulkAction) });
      return { items: page.items.map((a) => toBulkActionResource(a, basePath)), next_cursor: cursorAfter(page.nextBeforeId) };
    },
  });

  app.get<{ Params: Static<typeof IdParams> }>('/bulk-actions/:id', {
    schema: {
      tags,
      operationId: 'getBulkAction',
      summary: 'Read a bulk action: its status and counts',
      params: IdParams,
      querystring: ReadScopeQuery,
      response: { 200: jsonResponse(BulkActionSchema, 'The bulk action'), ...problemResponses(400, 403, 404) },
    },
    handler: async (request) => toBulkActionResource(await service.get(readScope(request), request.params.id), basePath),
  });
}

/**
 * The action's filter, with `?tenant=` in it: an admin's narrows the action to that tenant as `filter.tenant` does (it
 * was ignored, and the action reached every tenant), and a tenant key naming another is refused (readScope: 403).
 */
function filterOf(request: FastifyRequest<{ Body: Static<typeof BulkBodySchema> }>): Static<typeof BulkFilterSchema> {
  const filter = request.body.filter ?? {};
  if (namedTenant(request) === undefined) return filter;
  const tenant = readScope(request)!;
  if (filter.tenant !== undefined && filter.tenant !== tenant) {
    throw new AsyncOpsError('validation_failed', '`?tenant=` and `filter.tenant` name different tenants', {
      errors: [{ path: '/query/tenant', message: 'must name the tenant filter.tenant names (or be left out)' }],
    });
  }
  return { ...filter, tenant };
}
