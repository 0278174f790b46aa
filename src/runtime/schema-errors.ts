// Owns: turning a JSON-schema validator's (Ajv's) errors into the field errors a 400 problem lists.
// Not here: validating (registry.ts for task inputs, the HTTP app's validators for routes); rendering (http/problem.ts).
// Invariant: one field error per failed choice of constants, naming the allowed values.

import type { ErrorObject } from 'ajv';
import type { FieldError } from '../domain/errors.ts';
import { dateTimeRefusal } from '../domain/date-time.ts';
import { pointerTo } from '../domain/json-values.ts';

/**
 * Field errors at `prefix` + each error's path. A union of constants (TypeBox's `Union([Literal…])`, an anyOf of
 * `const`) fails with one "must be equal to constant" per branch and an anyOf error besides; those become the one
 * error "must be one of a, b, c", as an `enum` does.
 */
export function fieldErrorsOf(errors: readonly ErrorObject[], prefix: string): FieldError[] {
  const absorbed = new Set<ErrorObject>();
  const allowed = new Map<ErrorObject, unknown[]>();
  for (const error of errors) {
    if (error.keyword !== 'anyOf' && error.keyword !== 'oneOf') continue;
    const branches = errors.filter((e) => e.schemaPath.startsWith(`${error.schemaPath}/`));
    const constants = branches.every((e) => (e.keyword === 'const' || e.keyword === 'enum') && e.instancePath === error.instancePath);
    if (branches.length === 0 || !constants) continue;
    for (const branch of branches) absorbed.add(branch);
    allowed.set(
      error,
      branches.flatMap((e) => allowedValues(e)),
    );
  }
  return errors
    .filter((error) => !absorbed.has(error))
    .map((error) => {
      const values = allowed.get(error) ?? (error.keyword === 'enum' ? allowedValues(error) : null);
      return {
        path: `${prefix}${error.instancePath}${namedProperty(error)}` || '/',
        message: values === null ? (formatMessage(error) ?? error.message ?? 'is invalid') : `must be one of ${values.map(shown).join(', ')}`,
      };
    });
}

function allowedValues(error: ErrorObject): unknown[] {
  const params = error.params as { allowedValue?: unknown; allowedValues?: unknown[] };
  return error.keyword === 'enum' ? [...(params.allowedValues ?? [])] : [params.allowedValue];
}

/** A missing or unexpected property is reported at its own path, not at the object holding it. */
function namedProperty(error: ErrorObject): string {
  // A name as a pointer writes it (`a/b` as `a~1b`): written as it is, it would read as two levels.
  if (error.keyword === 'required') return pointerTo('', String((error.params as { missingProperty?: string }).missingProperty));
  if (error.keyword === 'additionalProperties') return pointerTo('', String((error.params as { additionalProperty?: string }).additionalProperty));
  return '';
}

/** Strings as they are written in a query or a body field; anything else as JSON. */
function shown(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/**
 * A date-time's refusal as the domain words it (the form, or an instant out of range), where the validator kept the
 * value (`verbose`); ajv's own says only that the format did not match.
 */
function formatMessage(error: ErrorObject): string | null {
  const format = (error.params as { format?: unknown }).format;
  return error.keyword === 'format' && format === 'date-time' && typeof error.data === 'string' ? dateTimeRefusal(error.data) : null;
}
