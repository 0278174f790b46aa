// Owns: the HTTP figures: POST /operations and GET /operations/{id} on asyncops (API only, durable 202)
// against the bare Fastify server, and the ratios. Not here: queue figures (queue-scenarios.ts).
// Invariant: both servers get the same load from the same generator, each preceded by the same warm-up.

import { load, round, submitMany, type LoadFigures } from './load.ts';
import { startAsyncops, startBareServer } from './processes.ts';
import { freshStore, type StoreKind } from './stores.ts';

export interface HttpSettings {
  readonly durationS: number;
  readonly warmupS: number;
  readonly connections: number;
}

export interface HttpFigures {
  readonly create: LoadFigures & { readonly ratioToBare: number };
  /** Status reads as the server serves them (its read cache on: 100 operations read over and over). */
  readonly status: LoadFigures & { readonly ratioToBare: number };
  /** The same reads with the read cache off (--read-cache 0): every one reads the store. */
  readonly statusUncached: LoadFigures & { readonly ratioToBare: number };
}

const CREATE_BODY = JSON.stringify({ type: 'noop', input: {} });
// Pollers mostly read operations near the head of the queue: these are submitted before the create load.
const PROBES = 100;

async function createAndStatus(base: string, settings: HttpSettings): Promise<{ create: LoadFigures; status: LoadFigures; paths: string[] }> {
  const probes = await submitMany(base, PROBES, 8, () => ({ type: 'noop', input: {} }));
  const paths = probes.map((p) => `/operations/${p.id}`);
  const post = { url: `${base}/operations`, method: 'POST', connections: settings.connections, expectStatus: 202, body: CREATE_BODY } as const;
  await load({ ...post, durationS: settings.warmupS });
  const create = await load({ ...post, durationS: settings.durationS });
  const status = await statusLoad(base, paths, settings);
  return { create, status, paths };
}

/** GETs cycling over `paths`, after a warm-up. */
export async function statusLoad(base: string, paths: readonly string[], settings: HttpSettings): Promise<LoadFigures> {
  const get = { url: base, method: 'GET', connections: settings.connections, expectStatus: 200, paths } as const;
  await load({ ...get, durationS: settings.warmupS });
  return load({ ...get, durationS: settings.durationS });
}

/** The bare server's figures; measured once per run and shared by both stores. */
export async function measureBare(settings: HttpSettings): Promise<{ create: LoadFigures; status: LoadFigures }> {
  const bare = await startBareServer();
  try {
    const { create, status } = await createAndStatus(bare.url, settings);
    return { create, status };
  } finally {
    await bare.stop();
  }
}

export async function measureHttp(kind: StoreKind, settings: HttpSettings, bare: { create: LoadFigures; status: LoadFigures }): Promise<HttpFigures> {
  const store = await freshStore(kind);
  try {
    // API only: the create figure is the request path to a durable 202; the drain is measured on its own.
    const server = await startAsyncops('serve', { store: store.spec, workers: false });
    let measured: Awaited<ReturnType<typeof createAndStatus>>;
    try {
      measured = await createAndStatus(server.url, settings);
    } finally {
      await server.stop();
    }
    // The same store and operations, served by a process that reads the store for every GET.
    const uncachedServer = await startAsyncops('serve', { store: store.spec, workers: false, extra: ['--read-cache', '0'] });
    try {
      const { create, status, paths } = measured;
      const statusUncached = await statusLoad(uncachedServer.url, paths, settings);
      const ratio = (figures: LoadFigures, bareFigures: LoadFigures) => ({
        ...figures,
        ratioToBare: round(figures.requestsPerS / bareFigures.requestsPerS, 3),
      });
      return { create: ratio(create, bare.create), status: ratio(status, bare.status), statusUncached: ratio(statusUncached, bare.status) };
    } finally {
      await uncachedServer.stop();
    }
  } finally {
    await store.dispose();
  }
}
