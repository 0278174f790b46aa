// Owns: the HTTP figures: POST /operations (as is, and with `Prefer: return=minimal`) and GET /operations/{id} on
// asyncops (API only, durable 202) against the bare Fastify server, and the ratios; `--only create`: the creates
// alone, each form on a server of its own. Not here: queue figures (queue-scenarios.ts).
// Invariant: both servers get the same load from the same generator, each preceded by the same warm-up.

import { load, round, submitMany, type LoadFigures } from './load.ts';
import { startAsyncops, startBareServer, type BenchProcess } from './processes.ts';
import { analysed, freshStore, type StoreKind } from './stores.ts';

export interface HttpSettings {
  readonly durationS: number;
  readonly warmupS: number;
  readonly connections: number;
}

type Ratioed = LoadFigures & { readonly ratioToBare: number };

/** Creates, as the bare server's POST; `createMinimal` with `Prefer: return=minimal` (no body, no standing read). */
export interface CreateFigures {
  readonly create: Ratioed & ServerCpu;
  readonly createMinimal: Ratioed & ServerCpu;
}

/**
 * `--only create`: the server process's own CPU time per request served, µs (user + system over the measured load). Unlike
 * req/s it hardly moves with what else runs on the cores; on PostgreSQL the database's own work is not in it.
 */
export interface ServerCpu {
  readonly serverCpuUsPerRequest?: number | undefined;
}

export interface HttpFigures extends CreateFigures {
  /** Status reads as the server serves them (its read cache on: 100 operations read over and over). */
  readonly status: LoadFigures & { readonly ratioToBare: number };
  /** The same reads with the read cache off (--read-cache 0): every one reads the store. */
  readonly statusUncached: LoadFigures & { readonly ratioToBare: number };
}

const CREATE_BODY = JSON.stringify({ type: 'noop', input: {} });
// Pollers mostly read operations near the head of the queue: these are submitted before the create load.
const PROBES = 100;

const MINIMAL = { prefer: 'return=minimal' } as const;

async function createAndStatus(
  base: string,
  settings: HttpSettings,
  minimalToo: boolean,
  warmed?: () => Promise<void>,
): Promise<{ create: LoadFigures; createMinimal: LoadFigures | null; status: LoadFigures; paths: string[] }> {
  const probes = await submitMany(base, PROBES, 8, () => ({ type: 'noop', input: {} }));
  const paths = probes.map((p) => `/operations/${p.id}`);
  const create = await createLoad(base, settings, { warmed });
  const createMinimal = minimalToo ? await createLoad(base, settings, { headers: MINIMAL, warmed }) : null;
  const status = await statusLoad(base, paths, settings);
  return { create, createMinimal, status, paths };
}

/**
 * POSTs of a no-op, after a warm-up; `server`: the process serving them, whose CPU time per request is read too;
 * `warmed`: what to do between the warm-up and the measured load (an asyncops store: its statistics gathered, stores.ts
 * `analysed`, as autovacuum would have by then).
 */
async function createLoad(
  base: string,
  settings: HttpSettings,
  {
    headers,
    server,
    warmed,
  }: { headers?: Readonly<Record<string, string>> | undefined; server?: BenchProcess; warmed?: (() => Promise<void>) | undefined } = {},
): Promise<LoadFigures & ServerCpu> {
  const post = { url: `${base}/operations`, method: 'POST', connections: settings.connections, expectStatus: 202, body: CREATE_BODY, headers } as const;
  await load({ ...post, durationS: settings.warmupS });
  await warmed?.();
  const cpuBefore = server?.cpuMs() ?? null;
  const figures = await load({ ...post, durationS: settings.durationS });
  const cpuAfter = server?.cpuMs() ?? null;
  if (cpuBefore === null || cpuAfter === null || figures.requests === 0) return figures;
  return { ...figures, serverCpuUsPerRequest: round(((cpuAfter - cpuBefore) * 1000) / figures.requests, 1) };
}

/** GETs cycling over `paths`, after a warm-up. */
export async function statusLoad(base: string, paths: readonly string[], settings: HttpSettings): Promise<LoadFigures> {
  const get = { url: base, method: 'GET', connections: settings.connections, expectStatus: 200, paths } as const;
  await load({ ...get, durationS: settings.warmupS });
  return load({ ...get, durationS: settings.durationS });
}

/** The bare server's figures (`statusToo`: its GETs as well); measured once per run and shared by both stores. */
export async function measureBare(settings: HttpSettings, statusToo = true): Promise<{ create: LoadFigures & ServerCpu; status?: LoadFigures }> {
  const bare = await startBareServer();
  try {
    if (!statusToo) return { create: await createLoad(bare.url, settings, { server: bare }) };
    const { create, status } = await createAndStatus(bare.url, settings, false);
    return { create, status };
  } finally {
    await bare.stop();
  }
}

const ratioTo = (bare: LoadFigures) => (figures: LoadFigures) => ({ ...figures, ratioToBare: round(figures.requestsPerS / bare.requestsPerS, 3) });

/**
 * `--only create`: creates as they are, then with return=minimal, each on a server of its own on one store, so a
 * CPU profile (ASYNCOPS_BENCH_CPU_PROF) is of one form.
 */
export async function measureCreates(kind: StoreKind, settings: HttpSettings, bareCreate: LoadFigures): Promise<CreateFigures> {
  const store = await freshStore(kind);
  try {
    const measure = async (headers?: Readonly<Record<string, string>>) => {
      const server = await startAsyncops('serve', { store: store.spec, workers: false });
      try {
        return await createLoad(server.url, settings, { headers, server, warmed: () => analysed(store.spec) });
      } finally {
        await server.stop();
      }
    };
    const ratio = ratioTo(bareCreate);
    return { create: ratio(await measure()), createMinimal: ratio(await measure(MINIMAL)) };
  } finally {
    await store.dispose();
  }
}

export async function measureHttp(kind: StoreKind, settings: HttpSettings, bare: { create: LoadFigures; status: LoadFigures }): Promise<HttpFigures> {
  const store = await freshStore(kind);
  try {
    // API only: the create figure is the request path to a durable 202; the drain is measured on its own.
    const server = await startAsyncops('serve', { store: store.spec, workers: false });
    let measured: Awaited<ReturnType<typeof createAndStatus>>;
    try {
      measured = await createAndStatus(server.url, settings, true, () => analysed(store.spec));
    } finally {
      await server.stop();
    }
    // The same store and operations, served by a process that reads the store for every GET.
    const uncachedServer = await startAsyncops('serve', { store: store.spec, workers: false, extra: ['--read-cache', '0'] });
    try {
      const { create, createMinimal, status, paths } = measured;
      const statusUncached = await statusLoad(uncachedServer.url, paths, settings);
      const creates = ratioTo(bare.create);
      const reads = ratioTo(bare.status);
      return { create: creates(create), createMinimal: creates(createMinimal!), status: reads(status), statusUncached: reads(statusUncached) };
    } finally {
      await uncachedServer.stop();
    }
  } finally {
    await store.dispose();
  }
}
