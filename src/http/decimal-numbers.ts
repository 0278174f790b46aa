// Owns: refusing a number in a query string, a path or a header that is not written in decimal digits.
// Not here: reading such text as a number (Ajv's coercion, app.ts); the number's range and the other checks (the schemas).
// Invariant: a value let through reads as the same number to Ajv as to a person; Ajv's coercion alone (`+value`) took
// "0x10" as 16, "1e1" as 10 and " 5" as 5.

import type { ErrorObject, ValidateFunction } from 'ajv';

const DECIMAL = { integer: /^-?[0-9]+$/, number: /^-?[0-9]+(\.[0-9]+)?$/ } as const;
type NumberKind = keyof typeof DECIMAL;

/**
 * `validate` (built from `schema` by a validator that coerces text) with a check that each top-level property the
 * schema types as an integer or a number, given as text, is in decimal digits; a refusal is reported as Ajv reports one,
 * beside the schema's own refusals of the other properties.
 */
export function decimalNumbersOnly(validate: ValidateFunction, schema: unknown): ValidateFunction {
  const numbers = numberProperties(schema);
  if (numbers.length === 0) return validate;
  const checked = ((data: unknown) => {
    const refused = typeof data === 'object' && data !== null ? notDecimal(data as Record<string, unknown>, numbers) : [];
    const valid = validate(data);
    if (refused.length === 0) {
      checked.errors = validate.errors ?? null;
      return valid;
    }
    // What the schema says of a refused property is about the number coercion made of it ("0x10" as 16): left out.
    const paths = new Set(refused.map((error) => error.instancePath));
    checked.errors = [...refused, ...(validate.errors ?? []).filter((error) => !paths.has(error.instancePath))];
    return false;
  }) as ValidateFunction & { errors: ErrorObject[] | null };
  checked.errors = null;
  return checked;
}

function numberProperties(schema: unknown): [string, NumberKind][] {
  const properties = (schema as { properties?: Record<string, { type?: unknown }> } | null)?.properties ?? {};
  return Object.entries(properties).flatMap(([name, property]): [string, NumberKind][] =>
    property.type === 'integer' || property.type === 'number' ? [[name, property.type]] : [],
  );
}

function notDecimal(data: Record<string, unknown>, numbers: readonly [string, NumberKind][]): ErrorObject[] {
  return numbers.flatMap(([name, kind]): ErrorObject[] => {
    const value = data[name];
    // A parameter given twice arrives as an array, which its own check refuses.
    if (typeof value !== 'string' || DECIMAL[kind].test(value)) return [];
    const message = `must be ${kind === 'integer' ? 'an integer' : 'a number'} in decimal digits`;
    return [{ instancePath: `/${name}`, schemaPath: `#/properties/${name}/type`, keyword: 'type', params: { type: kind }, message }];
  });
}
