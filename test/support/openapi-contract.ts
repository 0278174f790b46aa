// Owns: checking real HTTP replies (and webhook requests) against an OpenAPI 3.1 document for contract tests: the
// response the document declares for the status, its media type, body schema and headers; and which declared
// responses have been seen. Not here: making the requests (the tests).
// Invariant: a reply passes only if its status and content type are declared for its operation, its body matches the
// declared schema (ajv, $refs into the document resolved), every required header is there and every header it sends
// that is not plain HTTP plumbing is declared and matches.

import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';

type Json = Record<string, any>;
type AddFormats = (ajv: Ajv2020) => Ajv2020;
const addFormats = (addFormatsModule as unknown as { default: AddFormats }).default;

const DOCUMENT_ID = 'https://asyncops.test/openapi.json';
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
/** Headers of HTTP itself, of caching, CORS and browser security, that an API description does not list. */
const PLUMBING =
  /^(date|connection|keep-alive|transfer-encoding|content-length|content-type|cache-control|vary|x-accel-buffering|content-security-policy|access-control-.*)$/;

/**
 * Request headers an OpenAPI document does not list as parameters: OpenAPI leaves out Authorization (the security
 * scheme) and Content-Type (the request body's media type), and a browser, not the client's code, sets the fetch
 * metadata (Origin, Sec-Fetch-Site) the CSRF check reads.
 */
const UNDECLARED_HEADERS: ReadonlySet<string> = new Set(['authorization', 'content-type', 'origin', 'sec-fetch-site']);

export interface Reply {
  readonly status: number;
  readonly headers: Headers | ReadonlyMap<string, string>;
  readonly text: string;
}

export interface ContractOperation {
  readonly id: string;
  readonly method: string;
  /** The path template, as in the document (`/operations/{id}`). */
  readonly path: string;
  readonly definition: Json;
}

const escapePointer = (token: string) => token.replace(/~/g, '~0').replace(/\//g, '~1');
const header = (headers: Reply['headers'], name: string): string | null =>
  headers instanceof Headers ? headers.get(name) : (headers.get(name.toLowerCase()) ?? null);
const headerNames = (headers: Reply['headers']): string[] => [...headers.keys()].map((name) => name.toLowerCase());

export class OpenApiContract {
  readonly document: Json;
  readonly #ajv: Ajv2020;
  readonly #operations = new Map<string, ContractOperation>();
  readonly #seen = new Set<string>();

  constructor(document: Json) {
    this.document = document;
    this.#ajv = addFormats(new Ajv2020({ strict: false, allErrors: true, validateSchema: false }));
    this.#ajv.addSchema(document, DOCUMENT_ID);
    for (const [path, item] of Object.entries<Json>(document.paths ?? {})) {
      for (const method of METHODS) {
        const definition = item[method];
        if (definition === undefined) continue;
        if (typeof definition.operationId !== 'string') throw new Error(`${method.toUpperCase()} ${path} has no operationId`);
        this.#operations.set(definition.operationId, { id: definition.operationId, method: method.toUpperCase(), path, definition });
      }
    }
  }

  operations(): ContractOperation[] {
    return [...this.#operations.values()];
  }

  operation(id: string): ContractOperation {
    const operation = this.#operations.get(id);
    if (operation === undefined) throw new Error(`the document has no operation ${id}`);
    return operation;
  }

  /** The path of an operation with its parameters filled in (each one URL-encoded), and a query. */
  path(id: string, params: Readonly<Record<string, string>> = {}, query = ''): string {
    const filled = this.operation(id).path.replace(/\{([^}]+)\}/g, (_, name: string) => {
      const value = params[name];
      if (value === undefined) throw new Error(`${id}: no value for {${name}}`);
      return encodeURIComponent(value);
    });
    return query === '' ? filled : `${filled}?${query}`;
  }

  /** The statuses an operation declares (`"200"`, `"4XX"`, `"default"`). */
  declared(id: string): string[] {
    return Object.keys(this.operation(id).definition.responses);
  }

  /** Checks a reply of operation `id`; throws what does not match. Returns the parsed JSON body, or the text. */
  check(id: string, reply: Reply): unknown {
    const operation = this.operation(id);
    const where = `${id} (${operation.method} ${operation.path}) ${reply.status}`;
    const key = [String(reply.status), `${String(reply.status)[0]}XX`, 'default'].find((k) => operation.definition.responses[k] !== undefined);
    if (key === undefined) throw new Error(`${where}: status not declared (declared: ${this.declared(id).join(', ')}); body: ${reply.text.slice(0, 300)}`);
    this.#seen.add(`${id} ${key}`);
    const pointer = `/paths/${escapePointer(operation.path)}/${operation.method.toLowerCase()}/responses/${key}`;
    const [response, at] = this.#resolve(operation.definition.responses[key], pointer);
    this.#checkHeaders(where, response, reply.headers);
    return this.#checkBody(where, response, at, reply);
  }

  /**
   * Checks what a request sends against what the operation declares: each header (but Authorization, the security
   * scheme's, and Content-Type, the request body's) and each query parameter is a declared parameter; a JSON body the
   * server accepted (`accepted`: it answered 2xx) matches the declared request body.
   */
  checkRequest(
    id: string,
    request: { readonly headers: Readonly<Record<string, string>>; readonly query: string; readonly json?: unknown; readonly accepted: boolean },
  ): void {
    const operation = this.operation(id);
    const declared = (where: string) =>
      new Set<string>((operation.definition.parameters ?? []).filter((p: Json) => p.in === where).map((p: Json) => p.name.toLowerCase()));
    const headers = declared('header');
    for (const name of Object.keys(request.headers).map((n) => n.toLowerCase())) {
      if (!UNDECLARED_HEADERS.has(name) && !headers.has(name)) throw new Error(`${id}: sends header ${name}, which the document does not declare`);
    }
    const query = declared('query');
    for (const name of new URLSearchParams(request.query).keys())
      if (!query.has(name)) throw new Error(`${id}: sends query parameter ${name}, which the document does not declare`);
    if (request.json === undefined || !request.accepted) return;
    const pointer = `/paths/${escapePointer(operation.path)}/${operation.method.toLowerCase()}/requestBody/content/application~1json/schema`;
    if (operation.definition.requestBody?.content?.['application/json']?.schema === undefined)
      throw new Error(`${id}: takes a JSON body the document does not declare`);
    this.#validate(`${id}: request body`, { $ref: `${DOCUMENT_ID}#${pointer}` }, request.json);
  }

  /** Checks a webhook request against the document's `webhooks` (its header parameters and JSON body). */
  checkWebhook(name: string, headers: Reply['headers'], body: string): unknown {
    const operation = this.document.webhooks?.[name]?.post;
    if (operation === undefined) throw new Error(`the document describes no webhook ${name}`);
    for (const parameter of operation.parameters ?? []) {
      if (parameter.in !== 'header') continue;
      const value = header(headers, parameter.name);
      if (value === null) {
        if (parameter.required === true) throw new Error(`webhook ${name}: required header ${parameter.name} missing`);
        continue;
      }
      this.#validate(`webhook ${name}: header ${parameter.name}`, parameter.schema, coerce(value, parameter.schema));
    }
    const content = operation.requestBody.content['application/json'];
    const value = JSON.parse(body);
    this.#validate(`webhook ${name}: body`, content.schema, value);
    this.#seen.add(`webhook ${name}`);
    return value;
  }

  /** Validates a value against a component schema (`Operation`). */
  checkComponent(name: string, value: unknown): void {
    this.#validate(`component ${name}`, { $ref: `#/components/schemas/${name}` }, value);
  }

  /** `operationId status` for every declared response not yet seen, and `webhook name` for every webhook not checked. */
  unseen(): string[] {
    const missing: string[] = [];
    for (const operation of this.#operations.values()) {
      for (const key of Object.keys(operation.definition.responses)) if (!this.#seen.has(`${operation.id} ${key}`)) missing.push(`${operation.id} ${key}`);
    }
    for (const name of Object.keys(this.document.webhooks ?? {})) if (!this.#seen.has(`webhook ${name}`)) missing.push(`webhook ${name}`);
    return missing;
  }

  /** Follows a `$ref` into the document; returns the object and its JSON pointer. */
  #resolve(node: Json, pointer: string): [Json, string] {
    let current = node;
    let at = pointer;
    while (typeof current.$ref === 'string') {
      if (!current.$ref.startsWith('#/')) throw new Error(`unsupported $ref ${current.$ref}`);
      at = current.$ref.slice(1);
      current = at
        .split('/')
        .slice(1)
        .reduce<any>((value, token) => value?.[token.replace(/~1/g, '/').replace(/~0/g, '~')], this.document);
      if (current === undefined) throw new Error(`unresolved $ref ${at}`);
    }
    return [current, at];
  }

  #checkHeaders(where: string, response: Json, headers: Reply['headers']): void {
    const declared = new Map<string, Json>();
    for (const [name, node] of Object.entries<Json>(response.headers ?? {})) declared.set(name.toLowerCase(), this.#resolve(node, '')[0]);
    for (const [name, definition] of declared) {
      const value = header(headers, name);
      if (value === null) {
        if (definition.required === true) throw new Error(`${where}: required header ${name} missing`);
        continue;
      }
      this.#validate(`${where}: header ${name}`, definition.schema, coerce(value, definition.schema));
    }
    for (const name of headerNames(headers)) {
      if (!PLUMBING.test(name) && !declared.has(name)) throw new Error(`${where}: header ${name} is sent but not declared`);
    }
  }

  #checkBody(where: string, response: Json, at: string, reply: Reply): unknown {
    // RFC 7240: a reply that applied `return=minimal` carries no body, whatever the response's content says.
    if (header(reply.headers, 'preference-applied') === 'return=minimal') {
      if (reply.text !== '') throw new Error(`${where}: applied return=minimal, but sent ${JSON.stringify(reply.text.slice(0, 200))}`);
      return undefined;
    }
    if (response.content === undefined) {
      if (reply.text !== '') throw new Error(`${where}: declared without a body, but sent ${JSON.stringify(reply.text.slice(0, 200))}`);
      return undefined;
    }
    const contentType = header(reply.headers, 'content-type');
    if (contentType === null) throw new Error(`${where}: no content-type (declared: ${Object.keys(response.content).join(', ')})`);
    const essence = contentType.split(';')[0]!.trim().toLowerCase();
    const [type] = essence.split('/');
    const media = [essence, `${type}/*`, '*/*'].find((m) => response.content[m] !== undefined);
    if (media === undefined) throw new Error(`${where}: content type ${essence} not declared (declared: ${Object.keys(response.content).join(', ')})`);
    const json = essence === 'application/json' || essence.endsWith('+json');
    let value: unknown = reply.text;
    if (json) {
      try {
        value = JSON.parse(reply.text);
      } catch {
        throw new Error(`${where}: ${essence} body is not JSON: ${reply.text.slice(0, 200)}`);
      }
    }
    if (response.content[media].schema !== undefined) {
      this.#validate(`${where}: ${essence} body`, { $ref: `${DOCUMENT_ID}#${at}/content/${escapePointer(media)}/schema` }, value);
    }
    return value;
  }

  #validate(what: string, schema: Json, value: unknown): void {
    const resolved = typeof schema.$ref === 'string' && schema.$ref.startsWith('#') ? { $ref: `${DOCUMENT_ID}${schema.$ref}` } : schema;
    const validate = this.#ajv.compile(resolved);
    if (!validate(value))
      throw new Error(`${what} does not match the document: ${this.#ajv.errorsText(validate.errors)}; value: ${JSON.stringify(value)?.slice(0, 400)}`);
  }
}

/** A header's text as its schema types it: integers and numbers are compared as numbers. */
function coerce(value: string, schema: Json | undefined): unknown {
  const type = schema?.type;
  if ((type === 'integer' || type === 'number') && /^-?\d+(\.\d+)?$/.test(value.trim())) return Number(value);
  return value;
}
