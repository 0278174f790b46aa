// Owns: generating src/client/wire.ts, the SDK's types of what the API sends and takes, from the server's own
// /openapi.json: every component schema, each operation's JSON 2xx body (`<OperationId>Response`) and JSON request body
// (`<OperationId>Body`). Not here: the SDK's own option types (src/client/types.ts), which build on these.
// Invariant: the output is a function of the document alone (sorted, no dates), so test/client/wire-types.test.ts can
// compare it byte for byte and fail when the server's schemas and the SDK's types part.
//
// Run: `npm run generate:client-types` (after changing a route schema, e.g. a field added to the operation resource).

import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// biome-ignore lint/suspicious/noExplicitAny: the document is walked as untyped JSON.
type Schema = Record<string, any>;

export const WIRE_TYPES_FILE = fileURLToPath(new URL('../src/client/wire.ts', import.meta.url));

const HEADER = `// Owns: the wire types of the asyncops HTTP API, generated from the server's /openapi.json by scripts/client-wire-types.ts.
// Not here: the SDK's option types (types.ts). Do not edit: run \`npm run generate:client-types\` after a route schema
// changes; test/client/wire-types.test.ts fails while this file and the server's document differ.
`;

const pascal = (name: string) => name.charAt(0).toUpperCase() + name.slice(1);
const refName = (ref: string) => ref.replace(/^#\/components\/schemas\//, '');
const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

function comment(schema: Schema, indent: string): string {
  const text = typeof schema.description === 'string' ? schema.description.replace(/\*\//g, '*\\/').replace(/\s+/g, ' ') : '';
  return text === '' ? '' : `${indent}/** ${text} */\n`;
}

function literal(value: unknown): string {
  return typeof value === 'string' ? `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'` : JSON.stringify(value);
}

const union = (members: string[]) => [...new Set(members)].join(' | ');
const grouped = (type: string) => (/[|&]/.test(type) && !/^\{[\s\S]*\}$/.test(type) ? `(${type})` : type);

/** The TypeScript type of a JSON schema (the subset TypeBox and the route schemas write). */
export function typeOf(schema: Schema, indent = ''): string {
  if (schema.$ref !== undefined) return refName(schema.$ref);
  if (Array.isArray(schema.allOf)) return schema.allOf.map((s: Schema) => grouped(typeOf(s, indent))).join(' & ');
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (Array.isArray(alternatives)) return union(alternatives.map((s: Schema) => typeOf(s, indent)));
  if ('const' in schema) return literal(schema.const);
  if (Array.isArray(schema.enum)) return union(schema.enum.map(literal));
  if (Array.isArray(schema.type)) return union(schema.type.map((type: string) => typeOf({ ...schema, type }, indent)));
  switch (schema.type) {
    case 'string':
      return 'string';
    case 'integer':
    case 'number':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'null':
      return 'null';
    case 'array':
      return `Array<${schema.items === undefined ? 'unknown' : typeOf(schema.items, indent)}>`;
    case 'object':
      return objectType(schema, indent);
    default:
      return 'unknown';
  }
}

function objectType(schema: Schema, indent: string): string {
  const properties = Object.entries<Schema>(schema.properties ?? {});
  if (properties.length === 0) return 'Record<string, unknown>';
  const required = new Set<string>(schema.required ?? []);
  const inner = `${indent}  `;
  const lines = properties.map(([name, property]) => {
    const key = IDENTIFIER.test(name) ? name : literal(name);
    return `${comment(property, inner)}${inner}${key}${required.has(name) ? '' : '?'}: ${typeOf(property, inner)};`;
  });
  if (schema.additionalProperties === true) lines.push(`${inner}[extension: string]: unknown;`);
  return `{\n${lines.join('\n')}\n${indent}}`;
}

function declaration(name: string, schema: Schema): string {
  const type = typeOf(schema);
  const head = comment(schema, '');
  return type.startsWith('{\n') ? `${head}export interface ${name} ${type}\n` : `${head}export type ${name} = ${type};\n`;
}

const isObjectSchema = (schema: Schema | undefined) => schema !== undefined && schema.$ref === undefined && (schema.type === 'object' || schema.allOf);

/** The source of src/client/wire.ts for an OpenAPI document. */
export function wireTypesSource(document: Schema): string {
  const named = new Map<string, Schema>();
  for (const [name, schema] of Object.entries<Schema>(document.components?.schemas ?? {})) named.set(name, schema);
  for (const item of Object.values<Schema>(document.paths ?? {})) {
    for (const operation of Object.values<Schema>(item)) {
      if (typeof operation?.operationId !== 'string' || operation.operationId === 'getOpenApiDocument') continue;
      const id = pascal(operation.operationId);
      const body = operation.requestBody?.content?.['application/json']?.schema;
      if (isObjectSchema(body)) named.set(`${id}Body`, body);
      const success = Object.entries<Schema>(operation.responses ?? {}).find(([status]) => /^2\d\d$/.test(status));
      const reply = success?.[1].content?.['application/json']?.schema;
      if (isObjectSchema(reply)) named.set(`${id}Response`, reply);
    }
  }
  const declarations = [...named.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([name, schema]) => declaration(name, schema));
  return `${HEADER}\n${declarations.join('\n')}`;
}

/** The server's document, as a server with no task types of its own serves it (task routes are per deployment). */
export async function serverDocument(): Promise<Schema> {
  const { assembleAsyncOps } = await import('../src/main.ts');
  const ops = await assembleAsyncOps({ store: ':memory:', workers: false, builtInTasks: false, logger: { level: 'silent' } });
  try {
    await ops.app!.ready();
    return (await ops.app!.inject({ method: 'GET', url: '/openapi.json' })).json() as Schema;
  } finally {
    await ops.close();
  }
}

if (import.meta.main) {
  writeFileSync(WIRE_TYPES_FILE, wireTypesSource(await serverDocument()));
  console.log(`wrote ${WIRE_TYPES_FILE}`);
}
