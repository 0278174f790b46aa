// Owns: compiling route schemas on first use: each route's validators (ajv) and reply serializers (fast-json-stringify,
// through Fastify's own serializer factory). Not here: which validator a part of a request gets (app.ts).
// Invariant: a compiled function behaves as the eagerly compiled one would, `.errors` included; only when it is built moves.

import { SerializerSelector } from '@fastify/fast-json-stringify-compiler';
import type { ErrorObject, ValidateFunction } from 'ajv';

/**
 * Compiling every route's schemas at start-up was a fifth to a quarter of a server's start-up CPU (bench/README.md,
 * "Start-up compiles no route schema"), for schemas many processes never use (the error replies of routes a short-lived
 * server never answers). Each is compiled the first time a request needs it instead.
 */
export function lazyValidator(compile: () => ValidateFunction): ValidateFunction {
  let compiled: ValidateFunction | null = null;
  // Fastify reads the errors off the function it was given, after each call.
  const validate = ((data: unknown) => {
    compiled ??= compile();
    const valid = compiled(data);
    validate.errors = compiled.errors ?? null;
    return valid;
  }) as ValidateFunction & { errors: ErrorObject[] | null };
  validate.errors = null;
  return validate;
}

type SerializerFactory = ReturnType<typeof SerializerSelector>;

/** Fastify's serializer factory (`schemaController.compilersFactory.buildSerializer`), each serializer built on first use. */
export const lazySerializers: SerializerFactory = (externalSchemas, options) => {
  const compile = SerializerSelector()(externalSchemas, options);
  return (route) => {
    let serialize: ((doc: unknown) => string) | null = null;
    return (doc: unknown) => {
      serialize ??= compile(route);
      return serialize(doc);
    };
  };
};
