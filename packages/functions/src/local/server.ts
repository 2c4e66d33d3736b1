import { mkdir, stat, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

import { ECRClient } from '@aws-sdk/client-ecr';
import {
  analyzeImageWithFacts,
  consoleLogger,
  cosignAttestationSubject,
  createAlertServices,
  createDocumentClient,
  DistributionRegistry,
  ensureTable,
  FeedStore,
  fetchImage,
  importPushedImageVex,
  InvalidInputError,
  localKeyFile,
  MANIFEST_MEDIA_TYPES,
  recordImage,
  REGISTRY_VEX_ACTOR,
  startLocalAlertDelivery,
  startLocalDynamo,
  Store,
  storeImageAnalysis,
  systemClock,
  type AnalysisRequester,
  type Clock,
  type Logger,
} from '@stratum/core';
import { createGraphQLServer, localAuthenticator } from '@stratum/graphql';

import { handleImagePushed } from '../image-pushed.ts';
import type { HandlerOutcome } from '../outcome.ts';
import { governanceFor, type HandlerDependencies } from '../runtime.ts';
import { handleScanCompleted } from '../scan-completed.ts';
import { handleSlaEscalation } from '../sla-escalation.ts';
import { analyzeLocalImage, LOCAL_ANALYSIS_ACTOR } from './analyze-path.ts';
import { parseRegistryNotification } from './registry-notification.ts';
import { ingestSamples } from './samples.ts';

export const LOCAL_TENANT = 'local';
export const TABLE_NAME = 'stratum';
/** Largest request body the local server reads; scan reports of big images reach tens of MB. */
const MAX_BODY_BYTES = 64 * 1024 * 1024;
/** The SLA pass runs at start and then once a day, as the daily schedule runs it on AWS. */
const SLA_PASS_INTERVAL_MS = 24 * 60 * 60 * 1000;

export const EXAMPLE_QUERY = `{
  images(repository: "bkimminich/juice-shop", first: 1) {
    edges { node {
      digest repository tags
      baseImage { name method confidence layerCount evidence }
      summary { total base { total critical high } application { total critical high } }
      findings(first: 5, filter: { origin: APPLICATION }) {
        edges { node { vulnerabilityId severity package { name version } origin layer { index createdBy } } }
      }
    } }
  }
}`;

export interface LocalServerOptions {
  /** Folder for the store's files; created when missing. */
  dataDir: string;
  port?: number;
  host?: string;
  /** Registry that push events and registry notifications are read from, for example http://127.0.0.1:5000. */
  registryUrl?: string;
  /** Reads ECR for events, with the AWS credentials of the environment, when true. */
  useAwsEcr?: boolean;
  seedSamples?: boolean;
  /** Analyses the content of every image pushed to the registry, in the background. */
  analyzeOnPush?: boolean;
  clock?: Clock;
  logger?: Logger;
}

export interface LocalServer {
  url: string;
  store: Store;
  close(): Promise<void>;
}

function isLoopback(address: string | undefined): boolean {
  return address === '127.0.0.1' || address === '::1' || address === '::ffff:127.0.0.1';
}

function parseJsonBody(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new InvalidInputError('The request body is not valid JSON');
  }
}

/** Reads the body of POST /analyze: an absolute path, and optionally a reference and a repository. */
function parseAnalyzeRequest(body: unknown): { path: string; reference?: string; repository?: string } {
  const { path, reference, repository } = (body ?? {}) as Record<string, unknown>;
  if (typeof path !== 'string' || !path.startsWith('/')) throw new InvalidInputError(`Invalid path ${JSON.stringify(path)}: expected {"path": "/absolute/path/to/layout-or-archive"}`, { path: 'path', value: path });
  for (const [name, value] of [['reference', reference], ['repository', repository]] as const) {
    if (value !== undefined && (typeof value !== 'string' || value.length === 0 || value.length > 256)) throw new InvalidInputError(`Invalid ${name} ${JSON.stringify(value)}: expected a string of 1 to 256 characters`, { path: name, value });
  }
  return { path, reference: reference as string | undefined, repository: repository as string | undefined };
}

function readBody(request: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new InvalidInputError(`Request body is larger than ${MAX_BODY_BYTES} bytes`));
        request.destroy();
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts the local stack: dynalite persisting under `dataDir`, the GraphQL API with GraphiQL,
 * and endpoints that accept EventBridge events (`POST /events`) and CNCF Distribution
 * registry notifications (`POST /registry-events`), the way the Lambda functions receive them.
 * Every ingest path records SLA deadlines and sends new-base-image alerts. The SLA pass runs at
 * start and every 24 hours, and a runner in this process sends the alert deliveries.
 */
export async function startLocalServer(options: LocalServerOptions): Promise<LocalServer> {
  const logger = options.logger ?? consoleLogger;
  const clock = options.clock ?? systemClock;
  await mkdir(join(options.dataDir, 'dynamodb'), { recursive: true });

  const dynamo = await startLocalDynamo({ path: join(options.dataDir, 'dynamodb') });
  const db = createDocumentClient({ endpoint: dynamo.endpoint });
  await ensureTable(db, TABLE_NAME);
  const store = new Store(db, TABLE_NAME);

  const registry = options.registryUrl ? new DistributionRegistry({ url: options.registryUrl }) : undefined;

  // Alerts are delivered in this process. Inline channel secrets are encrypted with the key file
  // alert-secrets.key in the data folder, as keyProviderFromEnvironment does outside AWS.
  const alertServices = createAlertServices({ clock, keyProvider: localKeyFile(options.dataDir) });
  // Local receivers run on this machine, so the local server allows webhooks to internal addresses unless STRATUM_ALLOW_PRIVATE_WEBHOOKS is already set.
  process.env.STRATUM_ALLOW_PRIVATE_WEBHOOKS ??= 'true';
  const alertDelivery = startLocalAlertDelivery({ store, clock, logger, services: alertServices });

  // Analyses and SLA passes run in the background, as queues and schedules run them on AWS; close() waits for them.
  const running = new Set<Promise<unknown>>();
  const background = (work: () => Promise<unknown>, fields: Record<string, unknown>, failure = 'background analysis failed') => {
    const task = work()
      .catch((error) => logger.error(failure, { ...fields, error: (error as Error).message }))
      .finally(() => running.delete(task));
    running.add(task);
  };
  const requestAnalysis: AnalysisRequester | undefined = registry
    ? async (request) =>
        background(async () => {
          const context = { store: store.forTenant(request.tenant), clock, logger, actor: request.requestedBy ?? LOCAL_ANALYSIS_ACTOR };
          const { analysis } = await analyzeImageWithFacts({ kind: 'registry', registry, repository: request.repository, reference: request.imageDigest }, { clock, logger });
          await storeImageAnalysis(context, analysis);
        }, { imageDigest: request.imageDigest, repository: request.repository })
    : undefined;

  const dependencies: HandlerDependencies = {
    store,
    clock,
    logger,
    ecr: (region) => new ECRClient({ region }),
    tenantForAccount: () => LOCAL_TENANT,
    requestAnalysis: options.analyzeOnPush ? requestAnalysis : undefined,
    alerts: alertDelivery.dispatcher,
  };

  const feeds = new FeedStore(db, TABLE_NAME);
  const yoga = createGraphQLServer({
    store,
    clock,
    logger,
    authenticate: localAuthenticator(LOCAL_TENANT),
    graphiql: true,
    defaultQuery: EXAMPLE_QUERY,
    exploitFacts: (ids) => feeds.getFacts([...ids]),
    requestAnalysis,
    alerts: alertDelivery.dispatcher,
    alertServices,
  });

  const handleEvent = async (event: unknown): Promise<HandlerOutcome> => {
    const detailType = (event as { 'detail-type'?: unknown } | null)?.['detail-type'];
    if (detailType === 'ECR Image Action') {
      if (!registry && !options.useAwsEcr) {
        throw new InvalidInputError('Local mode reads pushed images from a registry: set STRATUM_REGISTRY_URL (for example http://127.0.0.1:5000), or STRATUM_LOCAL_ECR=aws to read Amazon ECR');
      }
      return handleImagePushed(dependencies, event, registry ? () => registry : undefined);
    }
    if (detailType === 'ECR Image Scan' || detailType === 'Inspector2 Scan') {
      if (!options.useAwsEcr) {
        throw new InvalidInputError('Scan findings are read from Amazon ECR: set STRATUM_LOCAL_ECR=aws with AWS credentials, or upload the report with the ingestScanReport mutation');
      }
      return handleScanCompleted(dependencies, event);
    }
    const named = detailType === undefined ? 'Missing detail-type' : `Unsupported event detail-type ${JSON.stringify(detailType)}`;
    throw new InvalidInputError(`${named}: expected ECR Image Action, ECR Image Scan or Inspector2 Scan`, { path: 'detail-type', value: detailType });
  };

  const handleRegistryNotification = async (body: unknown): Promise<unknown[]> => {
    if (!registry) throw new InvalidInputError('Registry notifications need STRATUM_REGISTRY_URL, the registry to read the pushed manifests from');

    const pushes = parseRegistryNotification(body).filter((event) => event.action === 'push' && MANIFEST_MEDIA_TYPES.includes(event.target.mediaType));
    const results = [];
    for (const push of pushes) {
      const vexContext = { store: store.forTenant(LOCAL_TENANT), clock, logger, actor: REGISTRY_VEX_ACTOR };
      const subject = cosignAttestationSubject(push.target.tag);
      if (subject) {
        await importPushedImageVex(vexContext, registry, { repository: push.target.repository, digest: subject, attestation: push.target.digest }, { eventId: push.id });
        results.push({ eventId: push.id, attestationOf: subject });
        continue;
      }

      const fetched = await fetchImage(registry, push.target.repository, push.target.digest);
      const image = await recordImage(
        { store: store.forTenant(LOCAL_TENANT), clock, logger, governance: governanceFor(dependencies, LOCAL_TENANT) },
        {
          manifestDigest: fetched.manifestDigest,
          indexDigest: fetched.indexDigest,
          repository: push.target.repository,
          tags: push.target.tag ? [push.target.tag] : [],
          pushedAt: push.timestamp ?? clock.now().toISOString(),
          manifest: fetched.manifest,
          config: fetched.config,
          annotations: fetched.annotations,
        },
      );
      await importPushedImageVex(vexContext, registry, { repository: push.target.repository, digest: push.target.digest, baseImage: image.baseImage }, { eventId: push.id });
      if (options.analyzeOnPush && requestAnalysis) await requestAnalysis({ tenant: LOCAL_TENANT, repository: push.target.repository, imageDigest: fetched.manifestDigest, requestedBy: 'stratum:registry-events' });
      results.push({ eventId: push.id, imageKey: image.key, layers: image.layers.length });
    }
    return results;
  };

  const server: Server = createServer(async (request, response) => {
    const path = (request.url ?? '/').split('?')[0];

    const reply = (status: number, body: unknown) => {
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(body));
    };

    try {
      if (path === '/events' || path === '/registry-events') {
        if (request.method !== 'POST') return reply(405, { error: `Use POST ${path}` });

        const text = (await readBody(request)).toString('utf8');
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          throw new InvalidInputError('The request body is not valid JSON');
        }

        if (path === '/events') {
          const outcome = await handleEvent(body);
          return reply(outcome.status === 'rejected' ? 400 : 200, outcome);
        }
        return reply(200, { stored: await handleRegistryNotification(body) });
      }

      if (path === '/analyze') {
        if (request.method !== 'POST') return reply(405, { error: 'Use POST /analyze with {"path": "/absolute/path"}' });
        // The request names a path on this machine, so only a process on this machine may send it.
        if (!isLoopback(request.socket.remoteAddress)) return reply(403, { error: 'POST /analyze accepts requests from this machine only' });

        const body = parseJsonBody((await readBody(request)).toString('utf8'));
        const analyzeRequest = parseAnalyzeRequest(body);
        return reply(200, await analyzeLocalImage(store.forTenant(LOCAL_TENANT), analyzeRequest, { clock, logger }));
      }

      if (path === '/' && request.method === 'GET') {
        response.writeHead(302, { location: '/graphql' });
        return response.end();
      }

      // Everything else goes to yoga, which serves /graphql and responds 404 to other paths.
      return yoga.handle(request, response);
    } catch (error) {
      const status = error instanceof InvalidInputError ? 400 : 500;
      // A rejected request is the client's to fix; only failures of the server itself are errors.
      if (status === 400) logger.warn('rejected local request', { path, error: (error as Error).message });
      else logger.error('local request failed', { path, error: (error as Error).message });
      return reply(status, { error: status === 400 ? (error as Error).message : 'Unexpected error; see the server log' });
    }
  });

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 4000, options.host ?? '127.0.0.1', () => resolve());
    });
  } catch (error) {
    await alertDelivery.stop();
    db.destroy();
    await dynamo.close();
    throw error;
  }
  const address = server.address() as AddressInfo;

  // Samples are ingested once the port is bound, so a port already in use fails before any work.
  const marker = join(options.dataDir, 'samples-ingested');
  if (options.seedSamples !== false && !(await exists(marker))) {
    const results = await ingestSamples({ store: store.forTenant(LOCAL_TENANT), clock, logger, governance: governanceFor(dependencies, LOCAL_TENANT) });
    await writeFile(marker, `${JSON.stringify(results, null, 2)}\n`);
    logger.info('ingested sample reports', { samples: results.length, findings: results.reduce((sum, result) => sum + result.findingCount, 0) });
  }

  // handleSlaEscalation logs each tenant that failed; the next day's pass tries again.
  const runSlaPass = () => background(() => handleSlaEscalation(dependencies, alertDelivery.dispatcher), { task: 'SLA pass' }, 'SLA pass failed');
  runSlaPass();
  const slaTimer = setInterval(runSlaPass, SLA_PASS_INTERVAL_MS);
  slaTimer.unref();

  return {
    url: `http://${options.host ?? '127.0.0.1'}:${address.port}`,
    store,
    close: async () => {
      clearInterval(slaTimer);
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all([...running]);
      await alertDelivery.stop();
      db.destroy();
      await dynamo.close();
    },
  };
}
