// Owns: the webhook egress policy: which URLs may be stored (submit time) and which resolved addresses may be
// connected to (delivery time). Not here: the connection itself (http-attempt.ts pins the address this vets).
// Invariant: with allowPrivate off, no address in REFUSED_RANGES passes, in any IPv4-embedding IPv6 form either.

import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';

export interface EgressPolicy {
  /** Open loopback, private, link-local, CGNAT and metadata addresses (local development and tests). */
  readonly allowPrivate: boolean;
  /** Longest URL accepted; default 2048. */
  readonly maxLength?: number;
}

export type UrlCheck = { readonly ok: true; readonly url: URL } | { readonly ok: false; readonly reason: string };

export interface ResolvedAddress {
  readonly address: string;
  readonly family: 4 | 6;
}

export type AddressCheck = ({ readonly ok: true } & ResolvedAddress) | { readonly ok: false; readonly reason: string };

/** Every address a host name resolves to; dns.lookup (the system resolver, as a connection would use) by default. */
export type ResolveAll = (hostname: string) => Promise<ResolvedAddress[]>;

export const DEFAULT_MAX_URL_LENGTH = 2048;

interface Range {
  readonly label: string;
  readonly family: 4 | 6;
  readonly network: bigint;
  readonly prefix: number;
}

function range(label: string, cidr: string): Range {
  const [address = '', prefix = ''] = cidr.split('/');
  const parsed = parseIp(address);
  if (parsed === null) throw new TypeError(`bad range ${cidr}`);
  return { label, family: parsed.family, network: parsed.value, prefix: Number(prefix) };
}

// Named for the refusal message. Metadata endpoints come first so they are reported as such.
const REFUSED_RANGES: readonly Range[] = [
  range('cloud metadata', '169.254.169.254/32'),
  range('cloud metadata', '100.100.100.200/32'),
  range('cloud metadata', 'fd00:ec2::254/128'),
  range('unspecified', '0.0.0.0/8'),
  range('private', '10.0.0.0/8'),
  range('carrier-grade NAT', '100.64.0.0/10'),
  range('loopback', '127.0.0.0/8'),
  range('link-local', '169.254.0.0/16'),
  range('private', '172.16.0.0/12'),
  range('IETF protocol assignment', '192.0.0.0/24'),
  range('private', '192.168.0.0/16'),
  range('benchmarking', '198.18.0.0/15'),
  range('multicast', '224.0.0.0/4'),
  range('reserved or broadcast', '240.0.0.0/4'),
  range('unspecified', '::/128'),
  range('loopback', '::1/128'),
  range('discard-only', '100::/64'),
  // Teredo (RFC 4380) carries its IPv4 client address inverted, so a private one would pass the embedded-IPv4
  // check below; no webhook receiver is served on a Teredo address, so the whole prefix is refused.
  range('Teredo', '2001::/32'),
  range('local-use NAT64', '64:ff9b:1::/48'),
  range('unique-local', 'fc00::/7'),
  range('link-local', 'fe80::/10'),
  range('site-local', 'fec0::/10'),
  range('multicast', 'ff00::/8'),
];

/** IPv6 prefixes that carry an IPv4 address, and where: it is judged as that IPv4 address. */
const EMBEDDED_IPV4: ReadonlyArray<{ readonly range: Range; readonly shift: bigint }> = [
  { range: range('IPv4-mapped', '::ffff:0:0/96'), shift: 0n },
  { range: range('IPv4-translated', '::ffff:0:0:0/96'), shift: 0n },
  { range: range('IPv4-compatible', '::/96'), shift: 0n },
  { range: range('NAT64', '64:ff9b::/96'), shift: 0n },
  { range: range('6to4', '2002::/16'), shift: 80n },
];

/** Parse an IPv4 or IPv6 literal (zone id allowed and ignored) to its integer value; null when it is not one. */
export function parseIp(text: string): { readonly family: 4 | 6; readonly value: bigint } | null {
  const address = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  const unzoned = address.split('%')[0] ?? '';
  const family = isIP(unzoned);
  if (family === 4) {
    return { family: 4, value: unzoned.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n) };
  }
  if (family !== 6) return null;
  // isIP has vetted the syntax; the WHATWG URL host parser then spells it canonically (hex groups, one "::").
  const canonical = new URL(`http://[${unzoned}]/`).hostname.slice(1, -1);
  const [head = '', tail] = canonical.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return { family: 6, value: groups.reduce((acc, group) => (acc << 16n) | BigInt(parseInt(group, 16)), 0n) };
}

function inRange(family: 4 | 6, value: bigint, r: Range): boolean {
  if (r.family !== family) return false;
  const shift = BigInt((family === 4 ? 32 : 128) - r.prefix);
  return value >> shift === r.network >> shift;
}

/** Why an address may not be connected to, or null when it is a public unicast address. */
export function refusedAddressReason(address: string): string | null {
  const parsed = parseIp(address);
  if (parsed === null) return 'not an IP address';
  return refusedReason(parsed.family, parsed.value);
}

function refusedReason(family: 4 | 6, value: bigint): string | null {
  const direct = REFUSED_RANGES.find((r) => inRange(family, value, r));
  if (direct !== undefined) return `${direct.label} address`;
  if (family === 6) {
    for (const embedding of EMBEDDED_IPV4) {
      if (!inRange(6, value, embedding.range)) continue;
      const ipv4 = (value >> embedding.shift) & 0xffff_ffffn;
      const inner = refusedReason(4, ipv4);
      if (inner !== null) return `${embedding.range.label} form of ${withArticle(inner)}`;
    }
  }
  return null;
}

/**
 * "an unspecified address", "an IPv4-mapped form of …", but "a unique-local address", "a NAT64 form of …": the
 * article goes by the sound of the reason's first word, which for these labels is its first letter, bar "uni".
 */
function withArticle(reason: string): string {
  return /^[aeiou]/i.test(reason) && !/^uni/i.test(reason) ? `an ${reason}` : `a ${reason}`;
}

function isLocalhostName(hostname: string): boolean {
  const name = hostname.toLowerCase().replace(/\.$/, '');
  return name === 'localhost' || name.endsWith('.localhost');
}

/**
 * Submit-time check of a webhook URL: absolute http(s), no credentials, and (unless allowPrivate) no host that
 * is a refused literal address or a localhost name. Names are resolved only at delivery time (resolveAndCheck).
 */
export function checkWebhookUrl(text: string, policy: EgressPolicy): UrlCheck {
  const maxLength = policy.maxLength ?? DEFAULT_MAX_URL_LENGTH;
  if (text.length > maxLength) return { ok: false, reason: `the URL is longer than ${maxLength} characters` };
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { ok: false, reason: 'not an absolute URL' };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return { ok: false, reason: `scheme ${url.protocol} is not http or https` };
  if (url.username !== '' || url.password !== '') return { ok: false, reason: 'the URL may not carry credentials' };
  if (url.hostname === '') return { ok: false, reason: 'the URL has no host' };
  if (policy.allowPrivate) return { ok: true, url };
  if (isLocalhostName(url.hostname)) return { ok: false, reason: `host ${url.hostname} is a loopback name` };
  // The URL parser has already turned obfuscated IPv4 forms (2130706433, 0x7f.1, 127.1) into dotted quads.
  const literal = parseIp(url.hostname);
  if (literal !== null) {
    const reason = refusedReason(literal.family, literal.value);
    if (reason !== null) return { ok: false, reason: `host ${url.hostname} is ${withArticle(reason)}` };
  }
  return { ok: true, url };
}

const systemResolveAll: ResolveAll = async (hostname) => {
  const found = await dnsLookup(hostname, { all: true, verbatim: true });
  return found.map((entry) => ({ address: entry.address, family: entry.family === 6 ? 6 : 4 }));
};

/**
 * Delivery-time check: resolve the host and vet every address it has (one refused address refuses the host,
 * since a later connection could land on any of them). Returns the one address to connect to, so the caller
 * can pin it and no second resolution can swap in another (DNS rebinding). Resolution failures throw.
 */
export async function resolveAndCheck(hostname: string, policy: EgressPolicy, resolveAll: ResolveAll = systemResolveAll): Promise<AddressCheck> {
  const bare = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
  const literal = parseIp(bare);
  if (literal !== null) {
    const reason = policy.allowPrivate ? null : refusedReason(literal.family, literal.value);
    return reason === null ? { ok: true, address: bare.split('%')[0] ?? bare, family: literal.family } : { ok: false, reason: `${bare} is ${withArticle(reason)}` };
  }
  if (!policy.allowPrivate && isLocalhostName(bare)) return { ok: false, reason: `host ${bare} is a loopback name` };
  const addresses = await resolveAll(bare);
  if (addresses.length === 0) throw new Error(`${bare} resolved to no address`);
  if (!policy.allowPrivate) {
    for (const entry of addresses) {
      const reason = refusedAddressReason(entry.address);
      if (reason !== null) return { ok: false, reason: `${bare} resolves to ${entry.address}, ${withArticle(reason)}` };
    }
  }
  const first = addresses[0]!;
  return { ok: true, address: first.address, family: first.family };
}
