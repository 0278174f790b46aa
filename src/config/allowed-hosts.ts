// Owns: which host names a server without API keys answers to, against DNS rebinding: a page on a name its attacker
// points at 127.0.0.1 is same-origin to the browser, so Origin and Sec-Fetch-Site pass it, and only the Host header
// it sends tells it apart. Not here: where the check runs (http/host-check.ts).
// Invariant: an IP address, `localhost` and `*.localhost` are always answered (no rebinding names them); `*` is any.

/** `*`: any host; otherwise the names answered besides IP addresses and localhost, lower-case, without a port. */
export type AllowedHosts = '*' | readonly string[];

const HOST_NAME = /^(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*\.?$/;

/** `--allowed-hosts`: `*`, or host names separated by commas or spaces (a leading `.` also allows its subdomains). */
export function parseAllowedHosts(text: string): AllowedHosts {
  if (text.trim() === '*') return '*';
  const names = text
    .split(/[\s,]+/)
    .filter((name) => name.length > 0)
    .map((name) => name.toLowerCase());
  if (names.length === 0) throw new TypeError('expected host names (api.internal,.corp.example) or *');
  for (const name of names) {
    if (!HOST_NAME.test(name.startsWith('.') ? name.slice(1) : name)) {
      throw new TypeError(`"${name}" is not a host name (give names without scheme or port, such as api.internal)`);
    }
  }
  return names;
}

/** Whether a request whose Host header is `host` (absent in HTTP/1.0: answered) is for this server. */
export function hostAllowed(host: string | undefined, allowed: AllowedHosts): boolean {
  if (allowed === '*' || host === undefined || host === '') return true;
  const name = hostName(host);
  if (name === null) return false;
  // A browser writes an address in a URL as a dotted quad or in brackets, and sends it so in Host: no name to rebind.
  if (IPV6.test(name) || IPV4.test(name) || name === 'localhost' || name.endsWith('.localhost')) return true;
  return allowed.some((entry) => (entry.startsWith('.') ? name === entry.slice(1) || name.endsWith(entry) : name === entry));
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;
const IPV6 = /^\[[0-9a-f:.]+\]$/;

/** The name of a Host header, lower-case, without its port or a trailing dot (an IPv6 address keeps its brackets); null for one that is not a host. */
function hostName(host: string): string | null {
  const bracketed = /^(\[[^\]]*\])(?::\d+)?$/.exec(host);
  if (bracketed !== null) return bracketed[1]!.toLowerCase();
  const match = /^([^:]+)(?::\d+)?$/.exec(host);
  return match === null ? null : match[1]!.toLowerCase().replace(/\.$/, '');
}
