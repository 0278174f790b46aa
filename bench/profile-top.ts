// Owns: `node bench/profile-top.ts <file.cpuprofile> [n]`: the functions with the most self time in a V8 CPU profile
// (as written by --cpu-prof, e.g. with ASYNCOPS_BENCH_CPU_PROF), grouped by function and file, as a Markdown table.
// Not here: taking the profile. Invariant: shares are of all samples, idle and GC included, so they add up to 100 %.

import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { REPO_ROOT } from './processes.ts';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
}
interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export function topSelfTime(profile: Profile, count: number): { name: string; where: string; ms: number; share: number }[] {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map<string, { name: string; where: string; us: number }>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0;
    total += delta;
    const frame = byId.get(id)!.callFrame;
    const url = frame.url.replace(/^file:\/\//, '');
    const where = url === '' ? '' : `${url.startsWith(REPO_ROOT) ? relative(REPO_ROOT, url) : url.replace(/^.*node_modules\//, '')}:${frame.lineNumber + 1}`;
    const name = frame.functionName || '(anonymous)';
    const key = `${name} ${where}`;
    const entry = self.get(key) ?? { name, where, us: 0 };
    entry.us += delta;
    self.set(key, entry);
  });
  return [...self.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, count)
    .map((e) => ({ name: e.name, where: e.where, ms: Math.round(e.us / 1000), share: Math.round((e.us / total) * 1000) / 10 }));
}

if (import.meta.main) {
  const [file, n] = process.argv.slice(2);
  if (file === undefined) throw new Error('usage: node bench/profile-top.ts <file.cpuprofile> [n]');
  const rows = topSelfTime(JSON.parse(readFileSync(file, 'utf8')) as Profile, Number(n ?? 25));
  process.stdout.write(`| self time | share | function | where |\n| --- | --- | --- | --- |\n`);
  for (const r of rows) process.stdout.write(`| ${r.ms} ms | ${r.share} % | \`${r.name}\` | ${r.where} |\n`);
}
