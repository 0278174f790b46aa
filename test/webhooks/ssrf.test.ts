import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkWebhookUrl, refusedAddressReason, resolveAndCheck, type ResolveAll, type ResolvedAddress } from '../../src/webhooks/ssrf.ts';

const strict = { allowPrivate: false };
const open = { allowPrivate: true };

function refusedUrl(url: string, reason: RegExp): void {
  const check = checkWebhookUrl(url, strict);
  assert.equal(check.ok, false, `${url} should be refused`);
  if (!check.ok) assert.match(check.reason, reason, url);
}

const fakeDns =
  (table: Record<string, ResolvedAddress[]>): ResolveAll =>
  async (hostname) => {
    const found = table[hostname];
    if (found === undefined) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    return found;
  };
const v4 = (address: string): ResolvedAddress => ({ address, family: 4 });
const v6 = (address: string): ResolvedAddress => ({ address, family: 6 });

describe('refusedAddressReason', () => {
  const refused: Array<[string, RegExp]> = [
    ['127.0.0.1', /loopback/],
    ['127.255.255.254', /loopback/],
    ['::1', /loopback/],
    ['10.0.0.1', /private/],
    ['10.255.255.255', /private/],
    ['172.16.0.1', /private/],
    ['172.31.255.255', /private/],
    ['192.168.1.1', /private/],
    ['169.254.1.1', /link-local/],
    ['fe80::1', /link-local/],
    ['fe80::1%eth0', /link-local/],
    ['febf::1', /link-local/],
    ['100.64.0.1', /carrier-grade NAT/],
    ['100.127.255.255', /carrier-grade NAT/],
    ['fc00::1', /unique-local/],
    ['fdff:ffff::1', /unique-local/],
    ['0.0.0.0', /unspecified/],
    ['::', /unspecified/],
    ['224.0.0.1', /multicast/],
    ['239.255.255.250', /multicast/],
    ['ff02::1', /multicast/],
    ['255.255.255.255', /broadcast/],
    ['169.254.169.254', /cloud metadata/],
    ['fd00:ec2::254', /cloud metadata/],
    ['100.100.100.200', /cloud metadata/],
    ['::ffff:127.0.0.1', /IPv4-mapped form of a loopback/],
    ['::ffff:7f00:1', /IPv4-mapped form of a loopback/],
    ['::ffff:169.254.169.254', /IPv4-mapped form of a cloud metadata/],
    ['::ffff:10.1.2.3', /IPv4-mapped form of a private/],
    ['::127.0.0.1', /IPv4-compatible form of a loopback/],
    ['::ffff:0:127.0.0.1', /IPv4-translated form of a loopback/],
    ['64:ff9b::127.0.0.1', /NAT64 form of a loopback/],
    ['64:ff9b::a9fe:a9fe', /NAT64 form of a cloud metadata/],
    ['2002:7f00:1::', /6to4 form of a loopback/],
    ['2002:c0a8:101::1', /6to4 form of a private/],
    ['2001:0:4136:e378:8000:63bf:3fff:fdd2', /Teredo/],
    ['2001::1', /Teredo/],
    ['2001:0:ffff:ffff:ffff:ffff:ffff:ffff', /Teredo/],
    ['192.0.2.2', /documentation/],
    ['198.51.100.7', /documentation/],
    ['203.0.113.10', /documentation/],
    ['2001:db8::1', /documentation/],
    ['3fff:fff::1', /documentation/],
    ['::ffff:203.0.113.10', /IPv4-mapped form of a documentation/],
  ];
  for (const [address, reason] of refused) {
    it(`refuses ${address}`, () => {
      const got = refusedAddressReason(address);
      assert.ok(got !== null, `${address} should be refused`);
      assert.match(got, reason);
    });
  }

  const allowed = [
    '8.8.8.8',
    '1.1.1.1',
    '172.15.255.255',
    '172.32.0.0',
    '100.63.255.255',
    '100.128.0.0',
    '169.253.255.255',
    '2606:4700:4700::1111',
    '::ffff:8.8.8.8',
    '64:ff9b::808:808',
    '2002:808:808::1',
    '2a00::1',
    '2001:1::1',
    '2001:4860:4860::8888',
  ];
  for (const address of allowed) {
    it(`allows the public address ${address}`, () => assert.equal(refusedAddressReason(address), null));
  }

  it('says so for what is not an IP address', () => assert.equal(refusedAddressReason('example.com'), 'not an IP address'));
});

describe('refusal reasons', () => {
  // Where --allow-private-webhooks would take the address, the reason says so.
  const OPENED = '; a server started with --allow-private-webhooks (allowPrivateWebhooks) takes it, for development or a private network';
  // Each label once (and an embedding of each kind), as a sentence reads it.
  const reasons: Array<[string, string]> = [
    ['0.0.0.0', 'host 0.0.0.0 is an unspecified address'],
    ['[::]', 'host [::] is an unspecified address'],
    ['192.0.0.8', 'host 192.0.0.8 is an IETF protocol assignment address'],
    ['[::ffff:127.0.0.1]', `host [::ffff:7f00:1] is an IPv4-mapped form of a loopback address${OPENED}`],
    ['[::ffff:0:127.0.0.1]', `host [::ffff:0:7f00:1] is an IPv4-translated form of a loopback address${OPENED}`],
    ['[::127.0.0.1]', `host [::7f00:1] is an IPv4-compatible form of a loopback address${OPENED}`],
    ['[::ffff:0.0.0.1]', 'host [::ffff:0:1] is an IPv4-mapped form of an unspecified address'],
    ['[64:ff9b::10.0.0.1]', `host [64:ff9b::a00:1] is a NAT64 form of a private address${OPENED}`],
    ['[2002:c000:0001::]', 'host [2002:c000:1::] is a 6to4 form of an IETF protocol assignment address'],
    // RFC 4380's example Teredo address carries 192.0.2.45 (inverted), a documentation address.
    ['[2001:0:4136:e378:8000:63bf:3fff:fdd2]', 'host [2001:0:4136:e378:8000:63bf:3fff:fdd2] is a Teredo form of a documentation address'],
    ['[fc00::1]', `host [fc00::1] is a unique-local address${OPENED}`],
    ['[64:ff9b:1::1]', 'host [64:ff9b:1::1] is a local-use NAT64 address'],
    ['[100::1]', 'host [100::1] is a discard-only address'],
    ['[fec0::1]', 'host [fec0::1] is a site-local address'],
    ['198.18.0.1', 'host 198.18.0.1 is a benchmarking address'],
    ['[2001:2::1]', 'host [2001:2::1] is a benchmarking address'],
    ['[2001:10::1]', 'host [2001:10::1] is a deprecated ORCHID address'],
    ['[5f00::1]', 'host [5f00::1] is a segment routing (SRv6) address'],
    ['192.88.99.1', 'host 192.88.99.1 is a deprecated 6to4 relay anycast address'],
    ['240.0.0.1', 'host 240.0.0.1 is a reserved or broadcast address'],
    ['100.64.0.1', `host 100.64.0.1 is a carrier-grade NAT address${OPENED}`],
    ['169.254.169.254', 'host 169.254.169.254 is a cloud metadata address'],
  ];
  for (const [host, reason] of reasons) {
    it(`reads "${reason}"`, () => {
      const check = checkWebhookUrl(`http://${host}/hook`, strict);
      assert.equal(check.ok, false);
      if (!check.ok) assert.equal(check.reason, reason);
    });
  }

  it('at delivery time too, for a literal and for a resolved name', async () => {
    const noDns: ResolveAll = async () => assert.fail('a literal address must not be resolved');
    assert.deepEqual(await resolveAndCheck('[::ffff:0.0.0.0]', strict, noDns), {
      ok: false,
      reason: '::ffff:0.0.0.0 is an IPv4-mapped form of an unspecified address',
    });
    const dns = fakeDns({ 'teredo.example': [v6('2001:0:4136:e378:8000:63bf:3fff:fdd2')], 'zero.example': [v4('0.0.0.0')] });
    assert.deepEqual(await resolveAndCheck('teredo.example', strict, dns), {
      ok: false,
      reason: 'teredo.example resolves to 2001:0:4136:e378:8000:63bf:3fff:fdd2, a Teredo form of a documentation address',
    });
    assert.deepEqual(await resolveAndCheck('zero.example', strict, dns), { ok: false, reason: 'zero.example resolves to 0.0.0.0, an unspecified address' });
  });
});

describe('checkWebhookUrl', () => {
  it('accepts absolute http and https URLs with public hosts', () => {
    for (const url of ['https://hooks.example.com/asyncops?x=1', 'http://example.com:8080/', 'https://8.8.8.8/', 'https://[2606:4700:4700::1111]/h']) {
      const check = checkWebhookUrl(url, strict);
      assert.ok(check.ok, url);
      if (check.ok) assert.equal(check.url.href, new URL(url).href);
    }
  });

  it('refuses what is not an absolute http(s) URL', () => {
    refusedUrl('/relative/path', /not an absolute URL/);
    refusedUrl('not a url', /not an absolute URL/);
    for (const absolute of ['http://example.com:99999/', 'https://[fe80::1%25eth0]/', 'http://exa mple.com/']) {
      refusedUrl(absolute, /its host or port cannot be read/);
    }
    refusedUrl('ftp://exa mple.com/', /scheme ftp: is not http or https/);
    refusedUrl('FTP://example.com:99999/', /scheme ftp: is not http or https/);
    refusedUrl('http://', /the URL has no host/);
    refusedUrl('ftp://example.com/', /scheme ftp: is not http or https/);
    refusedUrl('file:///etc/passwd', /scheme file:/);
    refusedUrl('gopher://example.com/', /scheme gopher:/);
    refusedUrl('javascript:alert(1)', /scheme javascript:/);
  });

  it('refuses control characters, C0, DEL and C1 alike (the URL parser would escape them, but the text is what is stored and shown)', () => {
    for (const control of ['\u0000', '\n', '\u001b', '\u007f', '\u0085', '\u009b']) {
      refusedUrl(`https://example.com/a${control}b`, /holds a control character/);
    }
    assert.ok(checkWebhookUrl('https://example.com/caf\u00e9/\u00a0', strict).ok, 'Latin-1 letters and the no-break space past the C1 block are not controls');
  });

  it('refuses port 0, which a connection would take as the default port', () => {
    refusedUrl('http://example.com:0/hook', /port 0/);
    assert.equal(checkWebhookUrl('http://127.0.0.1:0/x', open).ok, false);
    assert.equal(checkWebhookUrl('http://example.com:1/hook', open).ok, true);
  });

  it('refuses credentials in the URL', () => {
    refusedUrl('https://user:pass@example.com/', /credentials/);
    refusedUrl('https://user@example.com/', /credentials/);
    assert.equal(checkWebhookUrl('https://user:pass@example.com/', open).ok, false);
  });

  it('refuses URLs over the length limit', () => {
    const url = `https://example.com/${'a'.repeat(100)}`;
    assert.equal(checkWebhookUrl(url, { allowPrivate: false, maxLength: 50 }).ok, false);
    assert.equal(checkWebhookUrl(`https://example.com/${'a'.repeat(3000)}`, strict).ok, false);
  });

  it('refuses localhost names', () => {
    refusedUrl('http://localhost/', /loopback name/);
    refusedUrl('http://LOCALHOST:8080/', /loopback name/);
    refusedUrl('http://localhost./', /loopback name/);
    refusedUrl('http://api.localhost/', /loopback name/);
  });

  it('says how to allow a receiver --allow-private-webhooks would take, and only such a one', () => {
    for (const url of ['http://localhost:8081/', 'http://127.0.0.1:8081/', 'http://10.1.2.3/', 'http://[::1]/']) {
      refusedUrl(url, /; a server started with --allow-private-webhooks \(allowPrivateWebhooks\) takes it, for development or a private network$/);
    }
    for (const url of ['http://169.254.169.254/', 'http://0.0.0.0/', 'http://224.0.0.1/']) {
      const check = checkWebhookUrl(url, strict);
      assert.ok(!check.ok && !check.reason.includes('--allow-private-webhooks'), url);
    }
  });

  it('at delivery time too: a name that resolves to such an address (a compose service), a literal, localhost', async () => {
    const hint = /; a server started with --allow-private-webhooks \(allowPrivateWebhooks\) takes it, for development or a private network$/;
    const resolvesTo =
      (address: string): ResolveAll =>
      async () => [{ address, family: 4 }];
    for (const [host, resolve] of [
      ['receiver', resolvesTo('172.18.0.5')],
      ['vm', resolvesTo('127.0.0.1')],
      ['10.0.0.7', resolvesTo('10.0.0.7')],
      ['localhost', resolvesTo('127.0.0.1')],
    ] as const) {
      const check = await resolveAndCheck(host, strict, resolve);
      assert.ok(!check.ok && hint.test(check.reason), `${host}: ${JSON.stringify(check)}`);
    }
    const metadata = await resolveAndCheck('metadata', strict, resolvesTo('169.254.169.254'));
    assert.ok(!metadata.ok && !metadata.reason.includes('--allow-private-webhooks'));
  });

  it('refuses literal addresses in refused ranges, in every spelling the URL parser accepts', () => {
    refusedUrl('http://127.0.0.1/', /loopback/);
    refusedUrl('http://[::1]/', /loopback/);
    refusedUrl('http://[::ffff:127.0.0.1]/', /IPv4-mapped form of a loopback/);
    refusedUrl('http://[::ffff:7f00:1]/', /IPv4-mapped form of a loopback/);
    refusedUrl('http://2130706433/', /loopback/);
    refusedUrl('http://0x7f.1/', /loopback/);
    refusedUrl('http://127.1/', /loopback/);
    refusedUrl('http://0/', /unspecified/);
    refusedUrl('http://169.254.169.254/latest/meta-data/', /cloud metadata/);
    refusedUrl('http://[fd00:ec2::254]/', /cloud metadata/);
    refusedUrl('http://100.100.100.200/', /cloud metadata/);
    refusedUrl('http://10.0.0.5/', /private/);
    refusedUrl('http://192.168.0.1/', /private/);
    refusedUrl('http://172.20.1.1/', /private/);
    refusedUrl('http://100.64.1.1/', /carrier-grade NAT/);
    refusedUrl('http://[fe80::1]/', /link-local/);
    refusedUrl('http://[fc00::1]/', /unique-local/);
    refusedUrl('http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/', /Teredo/);
  });

  it('opens private destinations when allowPrivate is set', () => {
    for (const url of [
      'http://127.0.0.1:3000/hook',
      'http://localhost/',
      'http://[::1]/',
      'http://10.0.0.5/',
      'http://169.254.1.1/',
      'http://[fe80::1]/',
      'http://[fd00:ec2::1]/',
    ]) {
      assert.ok(checkWebhookUrl(url, open).ok, url);
    }
  });

  it('opens only those: unspecified, multicast, broadcast, reserved, benchmarking and the rest stay refused with allowPrivate', () => {
    for (const [url, reason] of [
      ['http://0.0.0.0/', /unspecified/],
      ['http://[::]/', /unspecified/],
      ['http://224.0.0.1/', /multicast/],
      ['http://[ff02::1]/', /multicast/],
      ['http://255.255.255.255/', /broadcast/],
      ['http://240.0.0.1/', /reserved/],
      ['http://198.18.0.1/', /benchmarking/],
      ['http://192.0.0.8/', /IETF protocol assignment/],
      ['http://[::ffff:224.0.0.1]/', /IPv4-mapped form of a multicast/],
    ] as const) {
      const check = checkWebhookUrl(url, open);
      assert.equal(check.ok, false, url);
      if (!check.ok) assert.match(check.reason, reason, url);
    }
    assert.ok(checkWebhookUrl('http://[::ffff:10.1.2.3]/', open).ok, 'a mapped private address is opened as the private one is');
    assert.ok(checkWebhookUrl('http://100.64.0.1/', open).ok, 'carrier-grade NAT');
  });
});

describe('cloud metadata addresses, whatever allowPrivate says', () => {
  const metadata = [
    '169.254.169.254',
    '169.254.169.253',
    '169.254.169.123',
    '169.254.170.2',
    '169.254.170.23',
    '100.100.100.200',
    '168.63.129.16',
    '192.0.0.192',
    'fd00:ec2::254',
    'fd00:ec2::253',
    'fd00:ec2::123',
    'fd00:ec2::23',
    'fd20:ce::254',
    'fe80::a9fe:a9fe',
  ];
  // 169.254.169.254 in every spelling the guard reads: the URL parser's IPv4 forms, and each IPv6 embedding.
  const disguised: Array<[string, RegExp]> = [
    ['http://2852039166/', /host 169\.254\.169\.254 is a cloud metadata address/],
    ['http://0xa9fea9fe/', /host 169\.254\.169\.254 is a cloud metadata address/],
    ['http://169.254.43518/', /host 169\.254\.169\.254 is a cloud metadata address/],
    ['http://0251.0376.0251.0376/', /host 169\.254\.169\.254 is a cloud metadata address/],
    ['http://[::ffff:169.254.169.254]/', /IPv4-mapped form of a cloud metadata address/],
    ['http://[::ffff:0:169.254.169.254]/', /IPv4-translated form of a cloud metadata address/],
    ['http://[::169.254.169.254]/', /IPv4-compatible form of a cloud metadata address/],
    ['http://[64:ff9b::169.254.169.254]/', /NAT64 form of a cloud metadata address/],
    ['http://[2002:a9fe:a9fe::1]/', /6to4 form of a cloud metadata address/],
    ['http://[2001:0:4136:e378:8000:63bf:5601:5601]/', /Teredo form of a cloud metadata address/],
    ['http://[::ffff:168.63.129.16]/', /IPv4-mapped form of a cloud metadata address/],
    ['http://[FD00:EC2:0:0:0:0:0:254]/', /cloud metadata address/],
  ];

  for (const address of metadata) {
    it(`refuses ${address} with and without allowPrivate`, async () => {
      for (const allowPrivate of [false, true]) {
        assert.match(refusedAddressReason(address, allowPrivate) ?? 'allowed', /^cloud metadata address$/, `${address}, allowPrivate ${allowPrivate}`);
        const host = address.includes(':') ? `[${address}]` : address;
        const check = checkWebhookUrl(`http://${host}/latest/meta-data/`, { allowPrivate });
        assert.equal(check.ok, false, `${address}, allowPrivate ${allowPrivate}`);
        if (!check.ok) assert.match(check.reason, /is a cloud metadata address$/);
        const noDns: ResolveAll = async () => assert.fail('a literal address must not be resolved');
        const atDelivery = await resolveAndCheck(host, { allowPrivate }, noDns);
        assert.equal(atDelivery.ok, false, `${address} at delivery, allowPrivate ${allowPrivate}`);
      }
    });
  }

  for (const [url, reason] of disguised) {
    it(`refuses ${url} with allowPrivate`, () => {
      const check = checkWebhookUrl(url, open);
      assert.equal(check.ok, false, url);
      if (!check.ok) assert.match(check.reason, reason);
    });
  }

  it('refuses at delivery a name that resolves to a metadata address, with allowPrivate', async () => {
    const dns = fakeDns({
      'metadata.google.internal': [v4('169.254.169.254')],
      'sneaky.example': [v4('127.0.0.1'), v6('::ffff:169.254.170.2')],
      'imds6.example': [v6('fd00:ec2::254')],
    });
    assert.deepEqual(await resolveAndCheck('metadata.google.internal', open, dns), {
      ok: false,
      reason: 'metadata.google.internal resolves to 169.254.169.254, a cloud metadata address',
    });
    assert.deepEqual(await resolveAndCheck('sneaky.example', open, dns), {
      ok: false,
      reason: 'sneaky.example resolves to ::ffff:169.254.170.2, an IPv4-mapped form of a cloud metadata address',
    });
    assert.deepEqual(await resolveAndCheck('imds6.example', open, dns), {
      ok: false,
      reason: 'imds6.example resolves to fd00:ec2::254, a cloud metadata address',
    });
  });

  it('leaves their neighbours to the private-range rules', () => {
    for (const address of ['169.254.169.252', '169.254.170.3', 'fd00:ec2::255', '100.100.100.201']) {
      assert.equal(refusedAddressReason(address, true), null, address);
      assert.notEqual(refusedAddressReason(address), null, address);
    }
    assert.equal(refusedAddressReason('168.63.129.17'), null, 'a public neighbour stays public');
  });
});

describe('resolveAndCheck', () => {
  const PUBLIC_ADDRESSES = [v4('93.184.216.34'), v6('2606:2800:220:1:248:1893:25c8:1946')];
  const dns = fakeDns({
    'public.example': PUBLIC_ADDRESSES,
    'mixed.example': [v4('93.184.216.34'), v4('10.0.0.7')],
    'mapped.example': [v6('::ffff:127.0.0.1')],
    'metadata.example': [v4('169.254.169.254')],
    'loop.example': [v4('127.0.0.1')],
  });

  it('returns every address of a host whose addresses are all public, the first as the address', async () => {
    assert.deepEqual(await resolveAndCheck('public.example', strict, dns), {
      ok: true,
      address: '93.184.216.34',
      family: 4,
      all: PUBLIC_ADDRESSES,
    });
  });

  it('refuses a host when any one of its addresses is refused', async () => {
    const check = await resolveAndCheck('mixed.example', strict, dns);
    assert.equal(check.ok, false);
    if (!check.ok) assert.match(check.reason, /mixed\.example resolves to 10\.0\.0\.7, a private address/);
  });

  it('refuses names resolving to mapped loopback and metadata addresses', async () => {
    assert.equal((await resolveAndCheck('mapped.example', strict, dns)).ok, false);
    assert.equal((await resolveAndCheck('metadata.example', strict, dns)).ok, false);
  });

  it('checks literal addresses without resolving, brackets or not', async () => {
    const noDns: ResolveAll = async () => assert.fail('a literal address must not be resolved');
    assert.equal((await resolveAndCheck('[::ffff:7f00:1]', strict, noDns)).ok, false);
    assert.equal((await resolveAndCheck('127.0.0.1', strict, noDns)).ok, false);
    const literal = { address: '2606:4700:4700::1111', family: 6 } as const;
    assert.deepEqual(await resolveAndCheck('[2606:4700:4700::1111]', strict, noDns), { ok: true, ...literal, all: [literal] });
  });

  it('refuses localhost names before resolving them', async () => {
    const noDns: ResolveAll = async () => assert.fail('localhost must not be resolved');
    assert.equal((await resolveAndCheck('app.localhost', strict, noDns)).ok, false);
  });

  it('lets private addresses through when allowPrivate is set, still pinning what was vetted', async () => {
    assert.deepEqual(await resolveAndCheck('loop.example', open, dns), { ok: true, address: '127.0.0.1', family: 4, all: [v4('127.0.0.1')] });
  });

  it('throws on a resolution failure (a retryable error, not a refusal)', async () => {
    await assert.rejects(resolveAndCheck('missing.example', strict, dns), /ENOTFOUND/);
  });

  it('resolves through the system resolver by default', async () => {
    const check = await resolveAndCheck('localhost', open);
    assert.ok(check.ok);
    if (check.ok) assert.equal(refusedAddressReason(check.address)?.includes('loopback'), true);
  });
});
