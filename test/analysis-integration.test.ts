import { execFile } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { BatchGetImageCommand, ECRClient, ECRServiceException, GetDownloadUrlForLayerCommand } from '@aws-sdk/client-ecr';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { SQSEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { ConflictError, nextVersion, recordImage, silentLogger, storeImageAnalysis, toStoredAnalysis, type ImageAnalysis, type ImageUpdate } from '@stratum/core';

import { analyzeImageWithFacts } from '../packages/core/src/analysis/analyze-image.ts';
import { sqsAnalysisRequester } from '../packages/functions/src/analysis-queue.ts';
import { handleImageAnalyze } from '../packages/functions/src/image-analyze.ts';
import { handleImagePushed } from '../packages/functions/src/image-pushed.ts';
import { startLocalServer } from '../packages/functions/src/local/server.ts';
import type { HandlerDependencies } from '../packages/functions/src/runtime.ts';
import { hasHostDebianPackages, hostDebianImageSpec } from './support/host-debian-image.ts';
import { startTestStore, type TestStore } from './support/local-store.ts';
import { buildDockerArchive, buildOciLayout, type BuiltArchive, type BuiltImage } from './support/oci-image.ts';

const run = promisify(execFile);
const ROOT = new URL('..', import.meta.url).pathname;
const ACCOUNT = '123456789012';
const REPOSITORY = 'team/openssl-app';

const ecrMock = mockClient(ECRClient);
const sqsMock = mockClient(SQSClient);

let local: TestStore;
let workDir: string;
let layout: string;
let built: BuiltImage;
let archive: BuiltArchive;
let analysis: ImageAnalysis;
let facts: ImageUpdate;
let blobServer: Server;
let blobUrl: string;

function dependencies(overrides: Partial<HandlerDependencies> = {}): HandlerDependencies {
  return { store: local.store, clock: local.context().clock, logger: silentLogger, ecr: () => new ECRClient({ region: 'us-east-1' }), tenantForAccount: () => 'lambda', ...overrides };
}

function sqsEvent(bodies: string[]): SQSEvent {
  return {
    Records: bodies.map((body, index) => ({
      messageId: `message-${index}`,
      receiptHandle: `receipt-${index}`,
      body,
      attributes: { ApproximateReceiveCount: '1', SentTimestamp: '0', SenderId: 'test', ApproximateFirstReceiveTimestamp: '0' },
      messageAttributes: {},
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:us-east-1:123456789012:analysis',
      awsRegion: 'us-east-1',
    })),
  };
}

/** Items of one analysis partition, by sort key. */
async function partitionKeys(tenant: string, digest: string): Promise<string[]> {
  const response = await local.db.send(new QueryCommand({ TableName: local.tableName, KeyConditionExpression: 'PK = :pk', ExpressionAttributeValues: { ':pk': `T#${tenant}#ANALYSIS#${digest}` } }));
  return (response.Items ?? []).map((item) => item.SK as string);
}

/** Serves the layout's blobs, standing in for the pre-signed URLs that GetDownloadUrlForLayer returns. */
async function startBlobServer(): Promise<void> {
  blobServer = createServer((request, response) => {
    const digest = (request.url ?? '').split('/').pop() ?? '';
    if (!/^sha256:[a-f0-9]{64}$/.test(digest)) {
      response.writeHead(404).end();
      return;
    }
    createReadStream(join(layout, 'blobs', 'sha256', digest.slice(7)))
      .on('error', () => response.writeHead(404).end())
      .pipe(response);
  });
  await new Promise<void>((resolve) => blobServer.listen(0, '127.0.0.1', resolve));
  blobUrl = `http://127.0.0.1:${(blobServer.address() as AddressInfo).port}`;
}

async function mockEcrWithLayout(): Promise<void> {
  const manifest = await readFile(join(layout, 'blobs', 'sha256', built.manifestDigest.slice(7)), 'utf8');
  ecrMock.on(BatchGetImageCommand).resolves({
    images: [{ imageId: { imageDigest: built.manifestDigest }, imageManifest: manifest, imageManifestMediaType: 'application/vnd.oci.image.manifest.v1+json', repositoryName: REPOSITORY, registryId: ACCOUNT }],
  });
  ecrMock.on(GetDownloadUrlForLayerCommand).callsFake((input: { layerDigest: string }) => ({ downloadUrl: `${blobUrl}/${input.layerDigest}`, layerDigest: input.layerDigest }));
}

beforeAll(async () => {
  if (!hasHostDebianPackages) return;
  local = await startTestStore();
  workDir = await mkdtemp(join(tmpdir(), 'stratum-analysis-'));
  layout = join(workDir, 'layout');
  built = await buildOciLayout(layout, hostDebianImageSpec({ tag: '1.0' }));
  archive = await buildDockerArchive(join(workDir, 'image.tar'), hostDebianImageSpec({ tag: 'openssl-app:1.0' }));
  ({ analysis, image: facts } = await analyzeImageWithFacts({ kind: 'oci-layout', path: layout }, local.context()));
  await startBlobServer();
}, 180_000);

afterAll(async () => {
  await new Promise<void>((resolve) => (blobServer ? blobServer.close(() => resolve()) : resolve()));
  await local?.close();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

beforeEach(() => {
  ecrMock.reset();
  sqsMock.reset();
});

describe.skipIf(!hasHostDebianPackages)('analysis store', () => {
  it('keeps only the current version after a replacement', async () => {
    const context = { ...local.context('store'), actor: 'test' };

    const first = await storeImageAnalysis(context, analysis);
    const second = await storeImageAnalysis(context, analysis);
    const keys = await partitionKeys('store', analysis.imageDigest);
    const versions = new Set(keys.filter((key) => key.startsWith('V#')).map((key) => key.split('#')[1]));

    expect(second.analysis.version).not.toBe(first.analysis.version);
    expect([...versions]).toEqual([second.analysis.version]);
    expect(keys.filter((key) => key.includes('#P#'))).toHaveLength(analysis.packages.length);
    expect((await context.store.analysis.get(analysis.imageDigest))?.packages).toHaveLength(analysis.packages.length);
  });

  it('rejects a writer that read an older version and leaves no items behind', async () => {
    const context = { ...local.context('conflict'), actor: 'test' };
    const current = (await storeImageAnalysis(context, analysis)).analysis;
    const stale = toStoredAnalysis(analysis, nextVersion(undefined));

    await expect(context.store.analysis.put(stale.stored, stale.files, null)).rejects.toBeInstanceOf(ConflictError);
    const versions = new Set((await partitionKeys('conflict', analysis.imageDigest)).filter((key) => key.startsWith('V#')).map((key) => key.split('#')[1]));

    expect([...versions]).toEqual([current.version]);
  });

  it('keeps every item well under the DynamoDB item limit', async () => {
    const context = { ...local.context('sizes'), actor: 'test' };
    await storeImageAnalysis(context, analysis);

    const response = await local.db.send(new QueryCommand({ TableName: local.tableName, KeyConditionExpression: 'PK = :pk', ExpressionAttributeValues: { ':pk': `T#sizes#ANALYSIS#${analysis.imageDigest}` } }));
    const sizes = (response.Items ?? []).map((item) => (item.data ? (item.data as Uint8Array).length : Buffer.byteLength(JSON.stringify(item))));

    expect(Math.max(...sizes)).toBeLessThan(350 * 1024);
  });

  it('finds the analysis of a manifest by image ID', async () => {
    const context = { ...local.context('alias'), actor: 'test' };
    await storeImageAnalysis(context, analysis);

    const byImageId = await context.store.analysis.get(built.imageId);

    expect(byImageId?.imageDigest).toBe(built.manifestDigest);
  });
});

describe.skipIf(!hasHostDebianPackages)('image-analyze Lambda handler', () => {
  it('analyses the image an SQS message names', async () => {
    await mockEcrWithLayout();
    const body = JSON.stringify({ tenant: 'lambda', repository: REPOSITORY, imageDigest: built.manifestDigest, registryId: ACCOUNT, region: 'us-east-1' });

    const response = await handleImageAnalyze(dependencies(), sqsEvent([body]));
    const stored = await local.store.forTenant('lambda').analysis.get(built.manifestDigest);
    const image = await local.store.forTenant('lambda').getImage(built.manifestDigest);

    expect(response.batchItemFailures).toEqual([]);
    expect(stored?.packages.map((pkg) => `${pkg.name} ${pkg.reachability.status}`).sort()).toEqual(analysis.packages.map((pkg) => `${pkg.name} ${analysis.reachability.find((entry) => entry.packageId === pkg.id)?.status}`).sort());
    expect(image?.repository).toBe(REPOSITORY);
    expect(image?.layers.map((layer) => layer.diffId)).toEqual(built.layers.map((layer) => layer.diffId));
    expect(ecrMock.commandCalls(BatchGetImageCommand)[0]?.args[0].input).toMatchObject({ registryId: ACCOUNT, repositoryName: REPOSITORY });
  });

  it('drops an invalid message without a retry', async () => {
    const response = await handleImageAnalyze(dependencies(), sqsEvent(['{"tenant":"lambda","imageDigest":"latest"}', 'not json']));

    expect(response.batchItemFailures).toEqual([]);
    expect(ecrMock.commandCalls(BatchGetImageCommand)).toHaveLength(0);
  });

  it('reports a throttled message as a batch item failure', async () => {
    ecrMock.on(BatchGetImageCommand).rejects(new ECRServiceException({ name: 'ThrottlingException', $fault: 'client', $metadata: { httpStatusCode: 400 }, message: 'Rate exceeded' }));
    const body = JSON.stringify({ tenant: 'lambda', repository: REPOSITORY, imageDigest: built.manifestDigest });

    const response = await handleImageAnalyze(dependencies(), sqsEvent([body]));

    expect(response.batchItemFailures).toEqual([{ itemIdentifier: 'message-0' }]);
  });
});

describe.skipIf(!hasHostDebianPackages)('image-pushed queueing', () => {
  const pushEvent = () => ({
    version: '0',
    id: 'push-1',
    'detail-type': 'ECR Image Action',
    source: 'aws.ecr',
    account: ACCOUNT,
    time: '2026-12-01T11:00:00Z',
    region: 'us-east-1',
    resources: [],
    detail: { result: 'SUCCESS', 'repository-name': REPOSITORY, 'image-digest': built.manifestDigest, 'action-type': 'PUSH', 'image-tag': '1.0' },
  });

  it('sends an analysis request after recording the push', async () => {
    await mockEcrWithLayout();
    sqsMock.on(SendMessageCommand).resolves({ MessageId: 'sent' });
    const requestAnalysis = sqsAnalysisRequester(new SQSClient({ region: 'us-east-1' }), 'https://sqs.us-east-1.amazonaws.com/123456789012/analysis');

    const outcome = await handleImagePushed(dependencies({ requestAnalysis, tenantForAccount: () => 'pushed' }), pushEvent());
    const sent = sqsMock.commandCalls(SendMessageCommand)[0]?.args[0].input;

    expect(outcome.status).toBe('stored');
    expect(sent?.QueueUrl).toBe('https://sqs.us-east-1.amazonaws.com/123456789012/analysis');
    expect(JSON.parse(sent?.MessageBody ?? '{}')).toMatchObject({ tenant: 'pushed', repository: REPOSITORY, imageDigest: built.manifestDigest, registryId: ACCOUNT, region: 'us-east-1' });
  });

  it('skips the analysis when no queue is configured', async () => {
    await mockEcrWithLayout();
    const lines: string[] = [];
    const logger = { ...silentLogger, info: (message: string) => void lines.push(message) };

    const outcome = await handleImagePushed(dependencies({ logger, tenantForAccount: () => 'noqueue' }), pushEvent());

    expect(outcome.status).toBe('stored');
    expect(lines).toContain('no analysis queue configured; content analysis skipped');
    expect(sqsMock.commandCalls(SendMessageCommand)).toHaveLength(0);
  });
});

describe.skipIf(!hasHostDebianPackages)('npm run analyze', () => {
  const analyze = (path: string, dataDir: string, port: number) =>
    run('npx', ['tsx', 'packages/functions/src/local/analyze.ts', path], { cwd: ROOT, env: { ...process.env, STRATUM_DATA_DIR: dataDir, PORT: String(port) }, timeout: 120_000 });

  /** Finds a port nothing listens on, so the command opens the store itself. */
  async function freePort(): Promise<number> {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as AddressInfo;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    return port;
  }

  it('analyses an OCI layout into the local store', async () => {
    const dataDir = join(workDir, 'data-layout');

    const { stdout } = await analyze(layout, dataDir, await freePort());
    const server = await startLocalServer({ dataDir, port: 0, seedSamples: false, logger: silentLogger });
    try {
      const stored = await server.store.forTenant('local').analysis.get(built.manifestDigest);
      const image = await server.store.forTenant('local').getImage(built.manifestDigest);
      const unreachable = analysis.reachability.filter((entry) => entry.status === 'UNREACHABLE').length;

      expect(stdout).toContain(built.manifestDigest);
      expect(stdout).toMatch(new RegExp(`UNREACHABLE:\\s+${unreachable}\\n`));
      expect(stdout).toMatch(new RegExp(`packages:\\s+${analysis.packages.length}\\n`));
      expect(stored?.packages).toHaveLength(analysis.packages.length);
      expect(image?.imageId).toBe(built.imageId);
    } finally {
      await server.close();
    }
  }, 180_000);

  it('analyses a docker save archive through the running server', async () => {
    const dataDir = join(workDir, 'data-archive');
    const server = await startLocalServer({ dataDir, port: 0, seedSamples: false, logger: silentLogger });
    try {
      const { stdout } = await analyze(archive.file, dataDir, Number(new URL(server.url).port));
      const digest = archive.manifestDigest ?? archive.imageId;
      const stored = await server.store.forTenant('local').analysis.get(digest);

      expect(stdout).toContain('Analysed by the running server');
      expect(stdout).toContain(digest);
      expect(stored?.packages.map((pkg) => pkg.name).sort()).toEqual(analysis.packages.map((pkg) => pkg.name).sort());
    } finally {
      await server.close();
    }
  }, 180_000);

  it('rejects a folder that is not an image layout', async () => {
    const error = await analyze(workDir, join(workDir, 'data-invalid'), await freePort()).catch((failure: { stderr: string }) => failure);

    expect((error as { stderr: string }).stderr).toContain('without an oci-layout file');
  }, 60_000);
});
