import 'aws-sdk-client-mock-vitest/extend';

import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import {
  BatchGetImageCommand,
  DescribeImageScanFindingsCommand,
  ECRClient,
  ECRServiceException,
  GetDownloadUrlForLayerCommand,
  ImageNotFoundException,
} from '@aws-sdk/client-ecr';
import { fixedClock, RegistryError, sha256, silentLogger, type Finding, type Image, type Logger } from '@stratum/core';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';

import { handleImagePushed } from '../packages/functions/src/image-pushed.ts';
import type { HandlerDependencies } from '../packages/functions/src/runtime.ts';
import { handleScanCompleted } from '../packages/functions/src/scan-completed.ts';
import { readFixture, readFixtureText } from './support/fixtures.ts';
import { startTestStore, type TestStore } from './support/local-store.ts';

// Tests edit copies of the fixtures, so they are handled as untyped JSON values.
type Json = any;

const ACCOUNT = '123456789012';
const REPOSITORY = 'defectdojo/defectdojo-django';
const TAG = '1.13.1';
const MANIFEST_PATH = 'images/defectdojo-django-1.13.1.manifest.v2s2.json';
const CONFIG_PATH = 'images/defectdojo-django-1.13.1.config.json';
const MANIFEST_DIGEST = 'sha256:91bc0f1478c6d26e04da5c2a59ac20262ec2661942418e2a3e7c77245d872658';
const CONFIG_DIGEST = 'sha256:6132ee54d5553df52183325a70c37c1edbd028b86616ed57e3e0622809235e47';
const BASIC_SCAN_DIGEST = 'sha256:d4a96ee9443e641fc100e763a0c10928720b50c6e3ea3342d05d7c3435fc5355';
const INSPECTOR_DIGEST = sha256('corrected Inspector2 sample digest');

// The registry must return these exact bytes, because the handler checks them against the manifest digest.
const MANIFEST_TEXT = readFixtureText(MANIFEST_PATH);
const CONFIG_BYTES = readFileSync(new URL(`fixtures/${CONFIG_PATH}`, import.meta.url));
const MANIFEST: Json = readFixture(MANIFEST_PATH);
const CONFIG: Json = readFixture(CONFIG_PATH);

const ecrMock = mockClient(ECRClient);

let testStore: TestStore;
let blobServer: Server;
let blobUrl: string;
let tenantNumber = 0;
let tenant: string;

type LogMethod = Logger['error'];

function spyLogger() {
  return { debug: vi.fn<LogMethod>(), info: vi.fn<LogMethod>(), warn: vi.fn<LogMethod>(), error: vi.fn<LogMethod>() };
}

function dependencies(logger: Logger = silentLogger): HandlerDependencies {
  return {
    store: testStore.store,
    clock: fixedClock('2026-12-01T12:00:00Z'),
    logger,
    ecr: () => new ECRClient({ region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } }),
    tenantForAccount: () => tenant,
  };
}

function getImage(digest: string): Promise<Image | undefined> {
  return testStore.store.forTenant(tenant).getImage(digest);
}

async function findingsOf(digest: string): Promise<Finding[]> {
  const image = await getImage(digest);
  if (!image) throw new Error(`image ${digest} is not stored`);

  const page = await testStore.store.forTenant(tenant).listFindings(image, {}, { first: 100 });
  return page.items.map((edge) => edge.node);
}

/** Copies the AWS push sample with the digest, repository and tag of the defectdojo fixture, plus the given detail fields. */
function pushEvent(detail: Record<string, unknown> = {}): Json {
  const event: Json = readFixture('events/eventbridge-ecr-image-action-push.json');
  Object.assign(event.detail, { 'image-digest': MANIFEST_DIGEST, 'repository-name': REPOSITORY, 'image-tag': TAG }, detail);
  return event;
}

function scanEvent(detail: Record<string, unknown> = {}): Json {
  const event: Json = readFixture('events/eventbridge-ecr-image-scan-basic.json');
  Object.assign(event.detail, detail);
  return event;
}

function mockRegistry(manifestText = MANIFEST_TEXT): void {
  ecrMock.on(BatchGetImageCommand).resolves({
    images: [{ imageId: { imageDigest: MANIFEST_DIGEST, imageTag: TAG }, imageManifest: manifestText, imageManifestMediaType: MANIFEST.mediaType }],
    failures: [],
  });
  ecrMock.on(GetDownloadUrlForLayerCommand).resolves({ downloadUrl: `${blobUrl}/${CONFIG_DIGEST}`, layerDigest: CONFIG_DIGEST });
}

/** Builds a basic scanning page for the basic sample event's image, with one copy of the sample finding per CVE id. */
function basicPage(cveIds: string[], nextToken?: string): Json {
  const page: Json = readFixture('reports/ecr/ecr-basic-describe-image-scan-findings-apiref.json');
  const template = page.imageScanFindings.findings[0];

  page.registryId = ACCOUNT;
  page.repositoryName = 'tribble-image-scan-test';
  page.imageId = { imageDigest: BASIC_SCAN_DIGEST };
  page.imageScanFindings.findings = cveIds.map((name) => ({ ...structuredClone(template), name }));
  page.imageScanFindings.findingSeverityCounts = { MEDIUM: cveIds.length };
  if (nextToken) page.nextToken = nextToken;
  return page;
}

/** Mocks DescribeImageScanFindings to return the first page, then the page after the one whose nextToken the request carries. */
function mockScanPages(pages: Json[]): void {
  ecrMock.on(DescribeImageScanFindingsCommand).callsFake((input: { nextToken?: string }) => {
    const index = input.nextToken === undefined ? 0 : pages.findIndex((page) => page.nextToken === input.nextToken) + 1;
    return pages[index];
  });
}

/**
 * Builds an enhanced scanning page for `digest`, with one finding per CVE id and layer hash. The
 * AWS documentation's sample has trailing commas, which the API never sends, so they are removed.
 */
function enhancedPage(digest: string, repository: string, findings: Array<{ cve: string; layerHash: string }>): Json {
  const text = readFixtureText('reports/ecr/ecr-enhanced-describe-image-scan-findings-apiref.trailing-commas.json5');
  const page: Json = JSON.parse(text.replace(/,(\s*[}\]])/g, '$1'));
  const template = page.imageScanFindings.enhancedFindings[0];

  page.repositoryName = repository;
  page.imageId = { imageDigest: digest };
  page.imageScanFindings.enhancedFindings = findings.map(({ cve, layerHash }) => {
    const finding = structuredClone(template);
    finding.packageVulnerabilityDetails.vulnerabilityId = cve;
    finding.packageVulnerabilityDetails.vulnerablePackages[0].sourceLayerHash = layerHash;
    finding.resources[0].details.awsEcrContainerImage.imageHash = digest;
    finding.resources[0].details.awsEcrContainerImage.repositoryName = repository;
    return finding;
  });
  page.imageScanFindings.findingSeverityCounts = { HIGH: findings.length };
  return page;
}

beforeAll(async () => {
  testStore = await startTestStore();

  // Stands in for the S3 URL that GetDownloadUrlForLayer returns, serving the config blob.
  blobServer = createServer((request, response) => {
    if (request.url === `/${CONFIG_DIGEST}`) {
      response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': CONFIG_BYTES.length });
      response.end(CONFIG_BYTES);
      return;
    }
    response.writeHead(404).end();
  });
  await new Promise<void>((resolve) => blobServer.listen(0, '127.0.0.1', resolve));
  blobUrl = `http://127.0.0.1:${(blobServer.address() as AddressInfo).port}`;
});

afterAll(async () => {
  ecrMock.restore();
  await new Promise<void>((resolve) => blobServer.close(() => resolve()));
  await testStore?.close();
});

beforeEach(() => {
  ecrMock.reset();
  // A tenant per test keeps each test's images apart in the one shared table.
  tenantNumber += 1;
  tenant = `handlers-${tenantNumber}`;
});

describe('handleImagePushed', () => {
  describe('defectdojo push', () => {
    let image: Image | undefined;
    let status: string;

    beforeEach(async () => {
      mockRegistry();
      status = (await handleImagePushed(dependencies(), pushEvent())).status;
      image = await getImage(MANIFEST_DIGEST);
    });

    it('stores the pushed image', () => {
      expect(status).toBe('stored');
      expect(image?.key).toBe(MANIFEST_DIGEST);
    });

    it('requests the event digest from ECR', () => {
      expect(ecrMock).toHaveReceivedCommandWith(BatchGetImageCommand, { registryId: ACCOUNT, repositoryName: REPOSITORY, imageIds: [{ imageDigest: MANIFEST_DIGEST }] });
    });

    it('maps layer digests in order', () => {
      expect(image?.layers).toHaveLength(18);
      expect(image?.layers.map((layer) => layer.digest)).toEqual(MANIFEST.layers.map((layer: Json) => layer.digest));
    });

    it('maps layer diff_ids in order', () => {
      expect(image?.layers.map((layer) => layer.diffId)).toEqual(CONFIG.rootfs.diff_ids);
    });

    it('detects base from history', () => {
      expect(image?.baseImage?.method).toBe('HISTORY');
      expect(image?.baseImage?.layerCount).toBe(5);
    });

    it('marks base and application layers', () => {
      const expected = [...Array<string>(5).fill('BASE'), ...Array<string>(13).fill('APPLICATION')];

      expect(image?.layers.map((layer) => layer.origin)).toEqual(expected);
    });

    it('records push time and tag', () => {
      expect(image?.pushedAt).toBe('2019-11-16T01:54:34.000Z');
      expect(image?.tags).toEqual([TAG]);
      expect(image?.repository).toBe(REPOSITORY);
    });

    it('finds image by image ID', async () => {
      const byImageId = await getImage(CONFIG_DIGEST);

      expect(byImageId?.key).toBe(MANIFEST_DIGEST);
    });
  });

  describe('AWS sample push', () => {
    const sample: Json = readFixture('events/eventbridge-ecr-image-action-push.json');

    it('rejects the short digest', async () => {
      const outcome = await handleImagePushed(dependencies(), sample);

      expect(outcome.status).toBe('rejected');
      expect(outcome.reason).toContain('detail.image-digest');
      expect(outcome.reason).toContain(sample.detail['image-digest']);
    });

    it('stores nothing and reads nothing', async () => {
      await handleImagePushed(dependencies(), sample);

      expect(await getImage(sample.detail['image-digest'])).toBeUndefined();
      expect(ecrMock).toHaveReceivedCommandTimes(BatchGetImageCommand, 0);
    });

    it('logs an error with event id', async () => {
      const logger = spyLogger();

      await handleImagePushed(dependencies(logger), sample);

      expect(logger.error).toHaveBeenCalledWith('rejected event', expect.objectContaining({ eventId: sample.id }));
    });
  });

  it.each([
    ['DELETE action', { 'action-type': 'DELETE' }],
    ['FAILURE result', { result: 'FAILURE' }],
  ])('ignores a %s', async (_label, detail) => {
    mockRegistry();

    const outcome = await handleImagePushed(dependencies(), pushEvent(detail));

    expect(outcome.status).toBe('ignored');
    expect(ecrMock).toHaveReceivedCommandTimes(BatchGetImageCommand, 0);
    expect(await getImage(MANIFEST_DIGEST)).toBeUndefined();
  });

  it('rejects manifest with wrong digest', async () => {
    // One added space keeps the JSON valid but changes its digest.
    mockRegistry(`${MANIFEST_TEXT} `);

    const outcome = await handleImagePushed(dependencies(), pushEvent());

    expect(outcome.status).toBe('rejected');
    expect(outcome.reason).toContain(`not the requested ${MANIFEST_DIGEST}`);
    expect(await getImage(MANIFEST_DIGEST)).toBeUndefined();
  });

  it('throws on ECR throttling', async () => {
    ecrMock.on(BatchGetImageCommand).rejects(new ECRServiceException({ name: 'ThrottlingException', $fault: 'client', $metadata: { httpStatusCode: 400 }, message: 'Rate exceeded' }));

    const outcome = handleImagePushed(dependencies(), pushEvent());

    await expect(outcome).rejects.toBeInstanceOf(RegistryError);
    await expect(outcome).rejects.toMatchObject({ status: 'ThrottlingException' });
  });

  it('rejects ImageNotFoundException', async () => {
    ecrMock.on(BatchGetImageCommand).rejects(new ImageNotFoundException({ message: 'The image requested does not exist in the specified repository.', $metadata: {} }));

    const outcome = await handleImagePushed(dependencies(), pushEvent());

    expect(outcome.status).toBe('rejected');
    expect(outcome.reason).toContain('does not exist');
  });

  it('rejects ImageNotFound failure entry', async () => {
    // BatchGetImage reports a missing image as a failure entry in a successful response, not as an exception.
    ecrMock.on(BatchGetImageCommand).resolves({
      images: [],
      failures: [{ imageId: { imageDigest: MANIFEST_DIGEST }, failureCode: 'ImageNotFound', failureReason: 'Requested image not found' }],
    });

    const outcome = await handleImagePushed(dependencies(), pushEvent());

    expect(outcome.status).toBe('rejected');
    expect(outcome.reason).toContain('Requested image not found');
  });
});

describe('handleScanCompleted', () => {
  describe('basic scan with two pages', () => {
    const firstPage = () => basicPage(['CVE-2019-5188', 'CVE-2020-0001'], 'page-2');
    const secondPage = () => basicPage(['CVE-2021-0002']);

    it('counts findings of both pages', async () => {
      mockScanPages([firstPage(), secondPage()]);

      const outcome = await handleScanCompleted(dependencies(), scanEvent());

      expect(outcome.status).toBe('stored');
      expect(outcome.findingCount).toBe(3);
    });

    it('requests the second page', async () => {
      mockScanPages([firstPage(), secondPage()]);

      await handleScanCompleted(dependencies(), scanEvent());

      expect(ecrMock).toHaveReceivedCommandTimes(DescribeImageScanFindingsCommand, 2);
      expect(ecrMock).toHaveReceivedNthCommandWith(DescribeImageScanFindingsCommand, 2, {
        registryId: ACCOUNT,
        repositoryName: 'tribble-image-scan-test',
        imageId: { imageDigest: BASIC_SCAN_DIGEST },
        nextToken: 'page-2',
      });
    });

    it('stores findings of both pages', async () => {
      mockScanPages([firstPage(), secondPage()]);

      await handleScanCompleted(dependencies(), scanEvent());
      const ids = (await findingsOf(BASIC_SCAN_DIGEST)).map((finding) => finding.vulnerabilityId).sort();

      expect(ids).toEqual(['CVE-2019-5188', 'CVE-2020-0001', 'CVE-2021-0002']);
    });

    it('repeated scan changes nothing', async () => {
      mockScanPages([firstPage(), secondPage()]);
      await handleScanCompleted(dependencies(), scanEvent());
      const firstScanId = (await getImage(BASIC_SCAN_DIGEST))?.scan?.id;

      const outcome = await handleScanCompleted(dependencies(), scanEvent());

      expect(outcome.findingCount).toBe(3);
      expect((await getImage(BASIC_SCAN_DIGEST))?.scan?.id).toBe(firstScanId);
      expect(await findingsOf(BASIC_SCAN_DIGEST)).toHaveLength(3);
    });

    it('later scan replaces findings', async () => {
      mockScanPages([firstPage(), secondPage()]);
      await handleScanCompleted(dependencies(), scanEvent());

      ecrMock.reset();
      mockScanPages([basicPage(['CVE-2019-5188'])]);
      const outcome = await handleScanCompleted(dependencies(), scanEvent());
      const ids = (await findingsOf(BASIC_SCAN_DIGEST)).map((finding) => finding.vulnerabilityId);

      expect(outcome.findingCount).toBe(1);
      expect(ids).toEqual(['CVE-2019-5188']);
    });
  });

  describe('Inspector2 scan', () => {
    const sample: Json = readFixture('events/eventbridge-inspector2-scan-ecr.json');

    it('rejects the EXAMPLE digest', async () => {
      const outcome = await handleScanCompleted(dependencies(), sample);

      expect(outcome.status).toBe('rejected');
      expect(outcome.reason).toContain('detail.image-digest');
      expect(outcome.reason).toContain(sample.detail['image-digest']);
      expect(ecrMock).toHaveReceivedCommandTimes(DescribeImageScanFindingsCommand, 0);
    });

    it('stores plain repository name', async () => {
      const event = structuredClone(sample);
      event.detail['image-digest'] = INSPECTOR_DIGEST;
      mockScanPages([enhancedPage(INSPECTOR_DIGEST, 'amazon/amazon-ecs-sample', [{ cve: 'CVE-2022-49043', layerHash: sha256('some layer') }])]);

      const outcome = await handleScanCompleted(dependencies(), event);

      expect(outcome.status).toBe('stored');
      expect(outcome.findingCount).toBe(1);
      expect(ecrMock).toHaveReceivedCommandWith(DescribeImageScanFindingsCommand, { registryId: ACCOUNT, repositoryName: 'amazon/amazon-ecs-sample' });
      expect((await getImage(INSPECTOR_DIGEST))?.repository).toBe('amazon/amazon-ecs-sample');
    });
  });

  it('ignores a FAILED scan', async () => {
    const outcome = await handleScanCompleted(dependencies(), scanEvent({ 'scan-status': 'FAILED' }));

    expect(outcome.status).toBe('ignored');
    expect(ecrMock).toHaveReceivedCommandTimes(DescribeImageScanFindingsCommand, 0);
    expect(await getImage(BASIC_SCAN_DIGEST)).toBeUndefined();
  });
});

describe('push after scan', () => {
  const baseLayerIndex = 2;
  const applicationLayerIndex = 9;
  let scanned: Finding[];
  let pushed: Finding[];

  beforeEach(async () => {
    const event = scanEvent({ 'repository-name': REPOSITORY, 'image-digest': MANIFEST_DIGEST, 'image-tags': [TAG] });
    mockScanPages([
      enhancedPage(MANIFEST_DIGEST, REPOSITORY, [
        { cve: 'CVE-2022-49043', layerHash: MANIFEST.layers[baseLayerIndex].digest },
        { cve: 'CVE-2025-32414', layerHash: MANIFEST.layers[applicationLayerIndex].digest },
      ]),
    ]);
    await handleScanCompleted(dependencies(), event);
    scanned = await findingsOf(MANIFEST_DIGEST);

    mockRegistry();
    await handleImagePushed(dependencies(), pushEvent());
    pushed = await findingsOf(MANIFEST_DIGEST);
  });

  const byCve = (findings: Finding[], cve: string) => findings.find((finding) => finding.vulnerabilityId === cve);

  it('scan alone leaves origins UNKNOWN', () => {
    expect(scanned.map((finding) => finding.origin)).toEqual(['UNKNOWN', 'UNKNOWN']);
  });

  it('keeps finding ids', () => {
    expect(pushed.map((finding) => finding.id).sort()).toEqual(scanned.map((finding) => finding.id).sort());
  });

  it('places findings in pushed layers', () => {
    expect(byCve(pushed, 'CVE-2022-49043')?.layerIndex).toBe(baseLayerIndex);
    expect(byCve(pushed, 'CVE-2025-32414')?.layerIndex).toBe(applicationLayerIndex);
  });

  it('moves origins to BASE and APPLICATION', () => {
    expect(byCve(pushed, 'CVE-2022-49043')?.origin).toBe('BASE');
    expect(byCve(pushed, 'CVE-2025-32414')?.origin).toBe('APPLICATION');
  });
});
