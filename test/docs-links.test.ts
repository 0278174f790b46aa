// The documentation's relative links resolve: every link in README.md, CONTRIBUTING.md, bench/README.md and docs/*.md
// that is not a URL names a file or folder that exists, and its #fragment a heading of that page (as GitHub makes its
// anchor); every page in docs/ is linked from the README, so each is reachable from the front door.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const PAGES = [
  'README.md',
  'CONTRIBUTING.md',
  'bench/README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

interface Link {
  readonly line: number;
  readonly target: string;
}

/** The page's lines outside fenced code blocks, with their 1-based numbers. */
function proseLines(text: string): [number, string][] {
  const out: [number, string][] = [];
  let fence: string | null = null;
  for (const [i, line] of text.split('\n').entries()) {
    const marker = /^\s*(```|~~~)/.exec(line)?.[1];
    if (marker !== undefined) {
      if (fence === null) fence = marker;
      else if (line.trim().startsWith(fence)) fence = null;
      continue;
    }
    if (fence === null) out.push([i + 1, line]);
  }
  return out;
}

/** Inline links and images, outside code spans. */
function links(text: string): Link[] {
  const found: Link[] = [];
  for (const [line, content] of proseLines(text)) {
    const prose = content.replace(/`[^`]*`/g, '``');
    for (const m of prose.matchAll(/!?\[[^\]]*\]\(([^)\s]+)\)/g)) found.push({ line, target: m[1]! });
  }
  return found;
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens; a repeat gets -1, -2, … */
function anchors(text: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const [, line] of proseLines(text)) {
    const heading = /^#{1,6} (.*)$/.exec(line)?.[1];
    if (heading === undefined) continue;
    const shown = heading.replace(/\[([^\]]*)\]\([^)]*\)/g, '$1').replace(/[`*]/g, '');
    const slug = shown
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, '')
      .replace(/ /g, '-');
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    out.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return out;
}

/** Every way a page's relative links fail to resolve, one message each. */
function brokenLinks(page: string, text: string, read: (path: string) => string | null): string[] {
  const problems: string[] = [];
  for (const { line, target } of links(text)) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue;
    const [path = '', fragment] = target.split('#', 2);
    const file = path === '' ? join(ROOT, page) : resolve(dirname(join(ROOT, page)), path);
    const at = `${page}:${line} → ${target}`;
    if (relative(ROOT, file).startsWith('..')) problems.push(`${at}: outside the repository`);
    else if (!existsSync(file)) problems.push(`${at}: no such file`);
    else if (fragment !== undefined) {
      const content = path === '' ? text : statSync(file).isFile() && file.endsWith('.md') ? read(file) : null;
      if (content === null) problems.push(`${at}: a fragment on something that is not a Markdown page`);
      else if (!anchors(content).has(fragment)) problems.push(`${at}: no heading with that anchor in ${relative(ROOT, file)}`);
    }
  }
  return problems;
}

describe('documentation links', () => {
  const read = (file: string): string => readFileSync(file, 'utf8');

  for (const page of PAGES) {
    it(`${page}: every relative link and anchor resolves`, () => {
      assert.deepEqual(brokenLinks(page, read(join(ROOT, page)), read), []);
    });
  }

  it('the README links every page in docs/', () => {
    const linked = new Set(links(read(join(ROOT, 'README.md'))).map((l) => l.target.split('#')[0]));
    const unlinked = PAGES.filter((p) => p.startsWith('docs/') && !linked.has(p));
    assert.deepEqual(unlinked, [], 'pages in docs/ that README.md does not link to');
  });

  it('anchors follow GitHub: punctuation dropped, repeats numbered; a missing one is named', () => {
    assert.deepEqual(
      [...anchors("# Errors\n## An operation's error\n### Browsers: CORS and `streaming`\n## Errors\n```\n# not a heading\n```")],
      ['errors', 'an-operations-error', 'browsers-cors-and-streaming', 'errors-1'],
    );
    const page = '[ok](#errors) [no](#nowhere) [code `[x](#nowhere)`](#errors)\n```\n[in a block](#nowhere)\n```';
    assert.deepEqual(
      brokenLinks('README.md', `# Errors\n${page}`, () => null),
      ['README.md:2 → #nowhere: no heading with that anchor in README.md'],
    );
  });
});
