// Owns: the webhook egress policy: which URLs may be stored (submit time) and which resolved addresses may be
// connected to (delivery time). Not here: the connection itself (http-attempt.ts pins the address this vets).
// Invariant: with allowPrivate off, no address in REFUSED_RANGES passes, in any IPv4-embedding IPv6 form either; no
// address in METADATA_ADDRESSES passes whatever allowPrivate says.

import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { MAX_URL_LENGTH } from '../config/limits.ts';

export interface EgressPolicy {
  /** Open loopback, private, link-local and CGNAT addresses (local development and tests); never cloud metadata ones. */
  readonly allowPrivate: boolean;
  /** Longest URL accepted; default MAX_URL_LENGTH (config/limits.ts). */
  readonly maxLength?: number;
}

export type UrlCheck = { readonly ok: true; readonly url: URL } | { readonly ok: false; readonly reason: string };

export interface ResolvedAddress {
  readonly address: string;
  readonly family: 4 | 6;
}

/** The vetted addresses of a host: the first (`address`, `family`), and `all` of them in the resolver's order. */
export interface VettedAddresses extends ResolvedAddress {
  readonly all: readonly ResolvedAddress[];
}

export type AddressCheck = ({ readonly ok: true } & VettedAddresses) | { readonly ok: false; readonly reason: string };

/** Every address a host name resolves to; dns.lookup (the system resolver, as a connection would use) by default. */
export type ResolveAll = (hostname: string) => Promise<ResolvedAddress[]>;

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

/**
 * Cloud instance services. They hand credentials and instance data to whatever on the machine asks, and no webhook
 * receiver lives on them, so they stay refused with allowPrivate too: that opens private ranges for receivers on the
 * developer's machine or network, not the cloud provider's endpoints inside them.
 */
const METADATA_ADDRESSES: readonly Range[] = [
  range('cloud metadata', '169.254.169.254/32'), // AWS, Google Cloud, Azure, OpenStack, Oracle, DigitalOcean …
  range('cloud metadata', '169.254.169.253/32'), // AWS VPC DNS resolver
  range('cloud metadata', '169.254.169.123/32'), // AWS time sync
  range('cloud metadata', '169.254.170.2/32'), // AWS ECS task metadata and credentials
  range('cloud metadata', '169.254.170.23/32'), // AWS EKS Pod Identity credentials
  range('cloud metadata', '100.100.100.200/32'), // Alibaba Cloud
  range('cloud metadata', '168.63.129.16/32'), // Azure WireServer
  range('cloud metadata', '192.0.0.192/32'), // Oracle Cloud (classic)
  range('cloud metadata', 'fd00:ec2::254/128'), // AWS instance metadata over IPv6
  range('cloud metadata', 'fd00:ec2::253/128'), // AWS DNS resolver over IPv6
  range('cloud metadata', 'fd00:ec2::123/128'), // AWS time sync over IPv6
  range('cloud metadata', 'fd00:ec2::23/128'), // AWS EKS Pod Identity over IPv6
  range('cloud metadata', 'fd20:ce::254/128'), // Google Cloud metadata over IPv6
  range('cloud metadata', 'fe80::a9fe:a9fe/128'), // OpenStack metadata over IPv6
];

// Named for the refusal message. Metadata endpoints come first so they are reported as such.
const REFUSED_RANGES: readonly Range[] = [
  ...METADATA_ADDRESSES,
  range('unspecified', '0.0.0.0/8'),
  range('private', '10.0.0.0/8'),
  range('carrier-grade NAT', '100.64.0.0/10'),
  range('loopback', '127.0.0.0/8'),
  range('link-local', '169.254.0.0/16'),
  range('private', '172.16.0.0/12'),
  range('IETF protocol assignment', '192.0.0.0/24'),
  range('private', '192.168.0.0/16'),
  range('documentation', '192.0.2.0/24'),
  range('benchmarking', '198.18.0.0/15'),
  range('documentation', '198.51.100.0/24'),
  range('documentation', '203.0.113.0/24'),
  range('deprecated 6to4 relay anycast', '192.88.99.0/24'),
  range('multicast', '224.0.0.0/4'),
  range('reserved or broadcast', '240.0.0.0/4'),
  range('unspecified', '::/128'),
  range('loopback', '::1/128'),
  range('discard-only', '100::/64'),
  // Teredo (RFC 4380) carries its IPv4 client address inverted, so a private one would pass the embedded-IPv4
  // check below; no webhook receiver is served on a Teredo address, so the whole prefix is refused.
  range('Teredo', '2001::/32'),
  range('local-use NAT64', '64:ff9b:1::/48'),
  range('benchmarking', '2001:2::/48'),
  range('deprecated ORCHID', '2001:10::/28'),
  range('segment routing (SRv6)', '5f00::/16'),
  range('documentation', '2001:db8::/32'),
  range('documentation', '3fff::/20'),
  range('unique-local', 'fc00::/7'),
  range('link-local', 'fe80::/10'),
  range('site-local', 'fec0::/10'),
  range('multicast', 'ff00::/8'),
];

/**
 * What allowPrivate opens, by label: the ranges a receiver on a developer's machine or a private network lives on
 * (docs/webhooks.md). Unspecified, multicast, broadcast, reserved, benchmarking and the rest stay refused: no receiver
 * lives there either.
 */
const OPENED_BY_ALLOW_PRIVATE: ReadonlySet<string> = new Set(['loopback', 'private', 'unique-local', 'link-local', 'carrier-grade NAT']);

/** IPv6 prefixes that carry an IPv4 address, and where (inverted, for Teredo): it is judged as that IPv4 address. */
const EMBEDDED_IPV4: ReadonlyArray<{ readonly range: Range; readonly shift: bigint; readonly inverted?: boolean }> = [
  { range: range('IPv4-mapped', '::ffff:0:0/96'), shift: 0n },
  { range: range('IPv4-translated', '::ffff:0:0:0/96'), shift: 0n },
  { range: range('IPv4-compatible', '::/96'), shift: 0n },
  { range: range('NAT64', '64:ff9b::/96'), shift: 0n },
  { range: range('6to4', '2002::/16'), shift: 80n },
  // Refused as a whole above; read only for what allowPrivate leaves refused (a metadata address).
  { range: range('Teredo', '2001::/32'), shift: 0n, inverted: true },
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

/**
 * Why an address may not be connected to, or null when it may: a public unicast address, or with allowPrivate one in a
 * loopback, private, link-local or carrier-grade NAT range too (but a metadata one).
 */
export function refusedAddressReason(address: string, allowPrivate = false): string | null {
  const parsed = parseIp(address);
  if (parsed === null) return 'not an IP address';
  return refusedReason(parsed.family, parsed.value, allowPrivate);
}

function refusedReason(family: 4 | 6, value: bigint, allowPrivate: boolean): string | null {
  const direct = REFUSED_RANGES.find((r) => inRange(family, value, r));
  if (direct === undefined) return family === 6 ? embeddedReason(value, allowPrivate) : null;
  if (allowPrivate && OPENED_BY_ALLOW_PRIVATE.has(direct.label)) return null;
  // Teredo is refused whole, but one carrying a refused IPv4 address (a metadata one) is named for what it carries.
  return (direct.label === 'Teredo' ? embeddedReason(value, allowPrivate) : null) ?? `${direct.label} address`;
}

/** Why an IPv6 address that carries an IPv4 one is refused as that IPv4 address, or null. */
function embeddedReason(value: bigint, allowPrivate: boolean): string | null {
  for (const embedding of EMBEDDED_IPV4) {
    if (!inRange(6, value, embedding.range)) continue;
    const ipv4 = ((embedding.inverted === true ? ~value : value) >> embedding.shift) & 0xffff_ffffn;
    const inner = refusedReason(4, ipv4, allowPrivate);
    if (inner !== null) return `${embedding.range.label} form of ${withArticle(inner)}`;
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
 * C0 controls, DEL and C1 controls (NEL, CSI, …, which a terminal acts on where the URL is shown): no receiver's URL
 * has them, and PostgreSQL refuses a NUL in text.
 */
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * Submit-time check of a webhook URL: absolute http(s), no credentials, no host that is a metadata address, and
 * (unless allowPrivate) no host that is another refused literal address or a localhost name. Names are resolved
 * only at delivery time (resolveAndCheck).
 */
export function checkWebhookUrl(text: string, policy: EgressPolicy): UrlCheck {
  const maxLength = policy.maxLength ?? MAX_URL_LENGTH;
  if (text.length > maxLength) return { ok: false, reason: `the URL is longer than ${maxLength} characters` };
  // The parser drops or escapes these where it takes the URL apart, but the text is what is stored (PostgreSQL refuses a
  // NUL in text, a lone surrogate is no UTF-8) and shown: a receiver's URL has none of them.
  if (CONTROL_CHARACTER.test(text) || !text.isWellFormed()) return { ok: false, reason: 'the URL holds a control character or a lone surrogate' };
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    // With a scheme and `//` it is absolute: what failed is its host or port, unless the scheme is already not one.
    const absolute = /^([a-z][a-z0-9+.-]*:)\/\/(.?)/i.exec(text);
    if (absolute !== null) {
      const scheme = absolute[1]!.toLowerCase();
      if (scheme !== 'http:' && scheme !== 'https:') return { ok: false, reason: `scheme ${scheme} is not http or https` };
      if (absolute[2] === '' || absolute[2] === '/') return { ok: false, reason: 'the URL has no host' };
      return { ok: false, reason: 'its host or port cannot be read (a port past 65535, an IPv6 zone id, a character no host name holds)' };
    }
    return { ok: false, reason: 'not an absolute URL' };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return { ok: false, reason: `scheme ${url.protocol} is not http or https` };
  if (url.username !== '' || url.password !== '') return { ok: false, reason: 'the URL may not carry credentials' };
  if (url.hostname === '') return { ok: false, reason: 'the URL has no host' };
  // Node connects to port 0 as to the scheme's default: the delivery would go somewhere the URL does not say.
  if (url.port === '0') return { ok: false, reason: 'port 0 is not a port a receiver listens on' };
  if (!policy.allowPrivate && isLocalhostName(url.hostname)) return { ok: false, reason: `host ${url.hostname} is a loopback name${ALLOW_PRIVATE_HINT}` };
  // The URL parser has already turned obfuscated IPv4 forms (2130706433, 0x7f.1, 127.1) into dotted quads.
  const literal = parseIp(url.hostname);
  if (literal !== null) {
    const refused = refusal((open) => refusedReason(literal.family, literal.value, open), policy.allowPrivate);
    if (refused !== null) return { ok: false, reason: `host ${url.hostname} is ${refused}` };
  }
  return { ok: true, url };
}

/** Said of a receiver allowPrivate would take (a developer's `asyncops listen` on localhost, say): how to allow it. */
const ALLOW_PRIVATE_HINT = '; a server started with --allow-private-webhooks (allowPrivateWebhooks) takes it, for development or a private network';

/**
 * Why an address is refused (`reasonAt`, given whether private ones are allowed) with its article, and how to allow it
 * where --allow-private-webhooks would; null when it is taken.
 */
function refusal(reasonAt: (allowPrivate: boolean) => string | null, allowPrivate: boolean): string | null {
  const reason = reasonAt(allowPrivate);
  if (reason === null) return null;
  const opened = !allowPrivate && reasonAt(true) === null;
  return `${withArticle(reason)}${opened ? ALLOW_PRIVATE_HINT : ''}`;
}

const systemResolveAll: ResolveAll = async (hostname) => {
  const found = await dnsLookup(hostname, { all: true, verbatim: true });
  return found.map((entry) => ({ address: entry.address, family: entry.family === 6 ? 6 : 4 }));
};

/**
 * Delivery-time check: resolve the host and vet every address it has (one refused address refuses the host,
 * since a later connection could land on any of them). Returns the addresses to connect to, so the caller can pin
 * them and no second resolution can swap in another (DNS rebinding). Resolution failures throw.
 */
export async function resolveAndCheck(hostname: string, policy: EgressPolicy, resolveAll: ResolveAll = systemResolveAll): Promise<AddressCheck> {
  const bare = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
  const literal = parseIp(bare);
  if (literal !== null) {
    const refused = refusal((open) => refusedReason(literal.family, literal.value, open), policy.allowPrivate);
    const address = { address: bare.split('%')[0] ?? bare, family: literal.family };
    return refused === null ? { ok: true, ...address, all: [address] } : { ok: false, reason: `${bare} is ${refused}` };
  }
  if (!policy.allowPrivate && isLocalhostName(bare)) return { ok: false, reason: `host ${bare} is a loopback name${ALLOW_PRIVATE_HINT}` };
  const addresses = await resolveAll(bare);
  if (addresses.length === 0) throw new Error(`${bare} resolved to no address`);
  for (const entry of addresses) {
    const refused = refusal((open) => refusedAddressReason(entry.address, open), policy.allowPrivate);
    if (refused !== null) return { ok: false, reason: `${bare} resolves to ${entry.address}, ${refused}` };
  }
  const first = addresses[0]!;
  return { ok: true, address: first.address, family: first.family, all: addresses };
}
