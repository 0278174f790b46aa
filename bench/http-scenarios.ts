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
  readonly status: LoadFigures & { readonly ratioToBare: number };
}

const CREATE_BODY = JSON.stringify({ type: 'noop', input: {} });
// Pollers mostly read operations near the head of the queue: these are submitted before the create load.
const PROBES = 100;

async function createAndStatus(base: string, settings: HttpSettings): Promise<{ create: LoadFigures; status: LoadFigures }> {
  const probes = await submitMany(base, PROBES, 8, () => ({ type: 'noop', input: {} }));
  const paths = probes.map((p) => `/operations/${p.id}`);
  const post = { url: `${base}/operations`, method: 'POST', connections: settings.connections, expectStatus: 202, body: CREATE_BODY } as const;
  await load({ ...post, durationS: settings.warmupS });
  const create = await load({ ...post, durationS: settings.durationS });
  const get = { url: base, method: 'GET', connections: settings.connections, expectStatus: 200, paths } as const;
  await load({ ...get, durationS: settings.warmupS });
  const status = await load({ ...get, durationS: settings.durationS });
  return { create, status };
}

/** The bare server's figures; measured once per run and shared by both stores. */
export async function measureBare(settings: HttpSettings): Promise<{ create: LoadFigures; status: LoadFigures }> {
  const bare = await startBareServer();
  try {
    return await createAndStatus(bare.url, settings);
  } finally {
    await bare.stop();
  }
}

export async function measureHttp(kind: StoreKind, settings: HttpSettings, bare: { create: LoadFigures; status: LoadFigures }): Promise<HttpFigures> {
  const store = await freshStore(kind);
  try {
    // API only: the create figure is the request path to a durable 202; the drain is measured on its own.
    const server = await startAsyncops('serve', { store: store.spec, workers: false });
    try {
      const { create, status } = await createAndStatus(server.url, settings);
      return {
        create: { ...create, ratioToBare: round(create.requestsPerS / bare.create.requestsPerS, 3) },
        status: { ...status, ratioToBare: round(status.requestsPerS / bare.status.requestsPerS, 3) },
      };
    } finally {
      await server.stop();
    }
  } finally {
    await store.dispose();
  }
}
