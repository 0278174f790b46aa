// Owns: whether a text is a media type an HTTP Content-Type header carries as it is, and whether a header carries a
// text at all. Not here: what a result is (operation.ts), sending it (http/operations-routes.ts).

const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+";
// `type/subtype`, then parameters as clients write them: RFC 9110 would quote a value with `/`, `:` or a space
// (`profile=https://…`, `filename=a b.csv`), and receivers take them unquoted, so only their characters are held to.
const MEDIA_TYPE = new RegExp(`^${TOKEN}/${TOKEN}(?:[ \\t]*;[\\t\\x20-\\x7e]*)?$`);
/** What Node writes in a header: no control character but tab, nothing past Latin-1. */
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** The longest content type kept: longer ones are refused, not cut (a cut one would name another type). */
export const MEDIA_TYPE_MAX = 1_000;

/** `type/subtype`, with parameters after a `;`, in visible ASCII, no longer than MEDIA_TYPE_MAX. */
export function isMediaType(text: string): boolean {
  return text.length <= MEDIA_TYPE_MAX && MEDIA_TYPE.test(text);
}

/** Whether a header can carry `text` as it is (Node refuses the rest with a throw, which was a 500). */
export function isHeaderValue(text: string): boolean {
  return HEADER_VALUE.test(text);
}
