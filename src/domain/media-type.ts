// Owns: whether a text is a media type an HTTP Content-Type header carries as it is (RFC 9110, 8.3.1), in ASCII.
// Not here: what a result is (operation.ts), sending it (http/operations-routes.ts).

const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+";
const QUOTED = '"(?:[\\t !#-\\[\\]-~]|\\\\[\\t -~])*"';
const MEDIA_TYPE = new RegExp(`^${TOKEN}/${TOKEN}(?:[ \\t]*;[ \\t]*(?:${TOKEN}=(?:${TOKEN}|${QUOTED}))?)*$`);

/** The longest content type kept: longer ones are refused, not cut (a cut one would name another type). */
export const MEDIA_TYPE_MAX = 1_000;

/** `type/subtype` with `; name=value` parameters, in visible ASCII, no longer than MEDIA_TYPE_MAX. */
export function isMediaType(text: string): boolean {
  return text.length <= MEDIA_TYPE_MAX && MEDIA_TYPE.test(text);
}
