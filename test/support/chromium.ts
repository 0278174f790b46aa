// Owns: launching Debian's headless Chromium for the browser tests (cors, dashboard): where it is, the flags this closed
// machine needs, and what a test does without it (skips, or fails under CI=true: system-tool.ts).

import type { TestContext } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { systemTool } from './system-tool.ts';

const CHROMIUM = '/usr/bin/chromium';
// Without the background-networking flags Chromium keeps dialling out, which this machine's closed network refuses.
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** A headless Chromium, or null once `t` has been skipped for want of it. */
export async function launchChromium(t: TestContext): Promise<Browser | null> {
  const executablePath = systemTool(t, CHROMIUM, 'chromium');
  if (executablePath === null) return null;
  return chromium.launch({ executablePath, args: CHROMIUM_ARGS, timeout: 30_000 });
}
