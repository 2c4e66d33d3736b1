import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import {
  buildLayers,
  ingestReport,
  parseImageConfig,
  parseManifest,
  parseReport,
  recordImage,
  sha256,
  type Finding,
  type ParsedReport,
} from '@stratum/core';

import { readFixture, readFixtureText } from './support/fixtures.ts';
import { startTestStore, type TestStore } from './support/local-store.ts';

const JUICE_SHOP = 'reports/trivy/scb-juice-shop-v12.10.2-alpine-node.json';
const DEFECTDOJO_GRYPE = 'reports/grype/dd-defectdojo-django-1.13.1-debian10-python.json';
const DEFECTDOJO_DIGEST = 'sha256:91bc0f1478c6d26e04da5c2a59ac20262ec2661942418e2a3e7c77245d872658';

let local: TestStore;
let tenantCounter = 0;
let tenant: string;

beforeAll(async () => {
  local = await startTestStore();
});

afterAll(async () => {
  await local.close();
});

// Each test gets its own tenant, so tests share one table without seeing each other's data.
beforeEach(() => {
  tenant = `t${++tenantCounter}`;
});

const context = () => local.context(tenant);
const store = () => local.store.forTenant(tenant);

async function allFindings(digest: string): Promise<Finding[]> {
  const image = await store().getImage(digest);
  const findings: Finding[] = [];
  let after: string | undefined;
  do {
    const page = await store().listFindings(image!, {}, { first: 500, after });
    findings.push(...page.items.map((item) => item.node));
    after = page.hasNextPage ? page.endCursor : undefined;
  } while (after);
  return findings;
}

describe('ingest of real reports', () => {
  it('splits Juice Shop into base and application', async () => {
    const result = await ingestReport(context(), { report: parseReport(readFixture(JUICE_SHOP)) });
    const findings = await allFindings(result.image.key);

    const alpine = findings.filter((finding) => finding.package.type === 'apk');
    const npmInApp = findings.filter((finding) => finding.package.type === 'npm' && finding.origin === 'APPLICATION');
    const npmInBase = findings.filter((finding) => finding.package.type === 'npm' && finding.origin === 'BASE');

    expect(result.findingCount).toBe(182);
    expect(alpine).toHaveLength(21);
    expect(alpine.every((finding) => finding.origin === 'BASE')).toBe(true);
    // The app's node_modules were copied in layer 6; npm and yarn bundled with node:12-alpine stay in the base.
    expect(npmInApp).toHaveLength(142);
    expect(npmInApp.every((finding) => finding.layerIndex === 6)).toBe(true);
    expect(npmInBase).toHaveLength(19);
    expect(result.image.baseImage).toMatchObject({ method: 'HISTORY', layerCount: 4, confidence: 'LOW' });
  });

  it('gets the defectdojo boundary from history', async () => {
    const result = await ingestReport(context(), { report: parseReport(readFixture(DEFECTDOJO_GRYPE)) });

    expect(result.image.digest).toBe(DEFECTDOJO_DIGEST);
    expect(result.image.baseImage?.method).toBe('HISTORY');
    expect(result.image.baseImage?.layerCount).toBe(5);
    expect(result.image.layers.slice(0, 5).every((layer) => layer.origin === 'BASE')).toBe(true);
    expect(result.image.layers.slice(5).every((layer) => layer.origin === 'APPLICATION')).toBe(true);

    const findings = await allFindings(DEFECTDOJO_DIGEST);
    const count = (type: string, origin: string) => findings.filter((finding) => finding.package.type === type && finding.origin === origin).length;
    // Debian packages of python:3.6-slim stay in the base; those the app's apt-get added (layer 6) and its pip installs (layer 9) do not.
    expect(count('deb', 'BASE')).toBe(123);
    expect(count('deb', 'APPLICATION')).toBe(96);
    expect(count('pypi', 'APPLICATION')).toBe(107);
    expect(count('pypi', 'BASE')).toBe(1);
    expect(findings.find((finding) => finding.package.name === 'bash')?.layerIndex).toBe(0);
    expect(findings.find((finding) => finding.package.name === 'postgresql-client')?.layerIndex).toBe(6);
  });

  it('uses a stored base by layer prefix', async () => {
    const config = parseImageConfig(readFixture('images/defectdojo-django-1.13.1.config.json'));
    const baseDiffIds = config.rootfs.diff_ids.slice(0, 5);
    const baseConfig = { ...config, rootfs: { type: 'layers' as const, diff_ids: baseDiffIds }, history: undefined };

    await recordImage(context(), { imageId: sha256(JSON.stringify(baseConfig)), repository: 'library/python', tags: ['3.6-slim'], config: baseConfig });
    const result = await ingestReport(context(), { report: parseReport(readFixture(DEFECTDOJO_GRYPE)) });

    expect(result.image.baseImage).toMatchObject({ method: 'LAYER_PREFIX', confidence: 'HIGH', layerCount: 5, name: 'library/python:3.6-slim' });
  });

  it('re-attributes when the base arrives later', async () => {
    const first = await ingestReport(context(), { report: parseReport(readFixture(DEFECTDOJO_GRYPE)) });
    expect(first.image.baseImage?.method).toBe('HISTORY');

    const config = parseImageConfig(readFixture('images/defectdojo-django-1.13.1.config.json'));
    const baseConfig = { ...config, rootfs: { type: 'layers' as const, diff_ids: config.rootfs.diff_ids.slice(0, 5) }, history: undefined };
    await recordImage(context(), { imageId: sha256(JSON.stringify(baseConfig)), repository: 'library/python', tags: ['3.6-slim'], config: baseConfig });

    const image = await store().getImage(DEFECTDOJO_DIGEST);
    expect(image?.baseImage?.method).toBe('LAYER_PREFIX');
    expect(image?.baseImage?.layerCount).toBe(5);
  });

  it('does not take python:3.6 as base', async () => {
    const pythonConfig = parseImageConfig(readFixture('images/python-3.6-debian10.config.json'));
    await recordImage(context(), { imageId: sha256(readFixtureText('images/python-3.6-debian10.config.json')), repository: 'library/python', tags: ['3.6'], config: pythonConfig });

    const result = await ingestReport(context(), { report: parseReport(readFixture(DEFECTDOJO_GRYPE)) });

    expect(result.image.baseImage?.method).toBe('HISTORY');
    expect(result.image.baseImage?.name).toBeUndefined();
  });

  it('is idempotent for the same report', async () => {
    const report = parseReport(readFixture(JUICE_SHOP));
    const first = await ingestReport(context(), { report });
    const second = await ingestReport(context(), { report });

    expect(second.unchanged).toBe(true);
    expect(second.image.scan?.id).toBe(first.image.scan?.id);
    expect(await allFindings(first.image.key)).toHaveLength(182);
  });

  it('replaces findings with a newer report', async () => {
    const report = parseReport(readFixture(JUICE_SHOP));
    await ingestReport(context(), { report });
    const newer: ParsedReport = { ...report, findings: report.findings.filter((finding) => finding.package.type === 'apk') };
    const result = await ingestReport(context(), { report: newer });

    const findings = await allFindings(result.image.key);
    const occurrences = await store().listOccurrences('CVE-2021-23449', { first: 10 });

    expect(result.unchanged).toBe(false);
    expect(findings).toHaveLength(21);
    expect(result.image.scan?.findingCount).toBe(21);
    expect(occurrences.items).toHaveLength(0);
  });

  it('joins an image ID with its manifest digest', async () => {
    const report = parseReport(readFixture(DEFECTDOJO_GRYPE));
    const withoutDigest: ParsedReport = { ...report, image: { ...report.image, manifestDigest: undefined, manifest: undefined } };
    const first = await ingestReport(context(), { report: withoutDigest });
    expect(first.image.key).toBe(report.image.imageId);
    expect(first.image.digest).toBeUndefined();

    const manifest = parseManifest(readFixture('images/defectdojo-django-1.13.1.manifest.v2s2.json'));
    await recordImage(context(), { manifestDigest: DEFECTDOJO_DIGEST, repository: 'defectdojo/defectdojo-django', manifest, config: report.image.config });

    const byDigest = await store().getImage(DEFECTDOJO_DIGEST);
    const byImageId = await store().getImage(report.image.imageId!);
    expect(byDigest?.key).toBe(first.image.key);
    expect(byImageId?.digest).toBe(DEFECTDOJO_DIGEST);
    expect(byDigest?.scan?.findingCount).toBe(327);
    expect(byDigest?.layers[0]?.digest).toBe(manifest.layers[0]?.digest);
  });

  it('keeps another manifest of the same config apart', async () => {
    const report = parseReport(readFixture('reports/trivy/trivy-golden-alpine-310.json'));
    const first = await ingestReport(context(), { report, digest: `sha256:${'1'.repeat(64)}` });
    const second = await ingestReport(context(), { report, digest: `sha256:${'2'.repeat(64)}` });

    expect(first.image.key).toBe(`sha256:${'1'.repeat(64)}`);
    expect(second.image.key).toBe(`sha256:${'2'.repeat(64)}`);
    expect((await store().getImage(first.image.key))?.scan?.findingCount).toBe(4);
  });

  it('rejects a report without image identity', async () => {
    const report = parseReport(readFixture('reports/trivy/dd-legacy-list-format-many.json'));

    await expect(ingestReport(context(), { report })).rejects.toThrow(/names no image/);
  });

  it('accepts a digest for an anonymous report', async () => {
    const report = parseReport(readFixture('reports/trivy/dd-legacy-list-format-many.json'));
    const digest = `sha256:${'a'.repeat(64)}`;
    const result = await ingestReport(context(), { report, digest, repository: 'team/legacy' });

    expect(result.image.key).toBe(digest);
    expect(result.findingCount).toBe(93);
    // The legacy report names layers the image has no record of, so origin cannot be decided.
    expect(result.image.scan?.counts.UNKNOWN.HIGH).toBeGreaterThan(0);
  });

  it('rejects a digest that contradicts the report', async () => {
    const report = parseReport(readFixture(DEFECTDOJO_GRYPE));

    await expect(ingestReport(context(), { report, digest: `sha256:${'b'.repeat(64)}` })).rejects.toThrow(/does not match the report's manifest digest/);
  });

  it('keeps tenants apart', async () => {
    await ingestReport(context(), { report: parseReport(readFixture(DEFECTDOJO_GRYPE)) });

    expect(await local.store.forTenant(`${tenant}-other`).getImage(DEFECTDOJO_DIGEST)).toBeUndefined();
  });
});

describe('queries', () => {
  it('filters findings by origin and severity', async () => {
    const result = await ingestReport(context(), { report: parseReport(readFixture(JUICE_SHOP)) });
    const page = await store().listFindings(result.image, { origin: 'BASE', severities: ['CRITICAL'] }, { first: 100 });

    expect(page.items).toHaveLength(result.image.scan!.counts.BASE.CRITICAL!);
    expect(page.items.every(({ node }) => node.origin === 'BASE' && node.severity === 'CRITICAL')).toBe(true);
  });

  it('pages findings without overlap', async () => {
    const result = await ingestReport(context(), { report: parseReport(readFixture(JUICE_SHOP)) });
    const first = await store().listFindings(result.image, {}, { first: 100 });
    const second = await store().listFindings(result.image, {}, { first: 100, after: first.endCursor });
    const ids = new Set([...first.items, ...second.items].map(({ node }) => node.id));

    expect(first.hasNextPage).toBe(true);
    expect(second.hasNextPage).toBe(false);
    expect(second.items).toHaveLength(82);
    expect(ids.size).toBe(182);
    expect(first.items[0]?.node.severity).toBe('CRITICAL');
  });

  it('finds findings by package name', async () => {
    const result = await ingestReport(context(), { report: parseReport(readFixture(JUICE_SHOP)) });
    const page = await store().listFindings(result.image, { packageName: 'busybox' }, { first: 50 });

    expect(page.items.length).toBeGreaterThan(0);
    expect(page.items.every(({ node }) => node.package.name === 'busybox')).toBe(true);
  });

  it('lists occurrences across images', async () => {
    await ingestReport(context(), { report: parseReport(readFixture(JUICE_SHOP)) });
    await ingestReport(context(), { report: parseReport(readFixture('reports/trivy/trivy-golden-alpine-310.json')), digest: `sha256:${'c'.repeat(64)}`, repository: 'library/alpine' });

    const juice = await store().listOccurrences('CVE-2021-42378', { first: 10 });
    const openssl = await store().listOccurrences('CVE-2019-1549', { first: 10 });

    expect(juice.items.map(({ node }) => node.finding.package.name).sort()).toEqual(['busybox', 'ssl_client']);
    expect(juice.items.every(({ node }) => node.finding.origin === 'BASE')).toBe(true);
    expect(openssl.items.map(({ node }) => node.image.repository)).toContain('library/alpine');
  });

  it('finds a finding by its alias', async () => {
    const report = parseReport(readFixture(JUICE_SHOP));
    const source = report.findings.find((finding) => finding.vulnerabilityId === 'CVE-2021-42378')!;
    const ghsa: ParsedReport = { ...report, findings: [{ ...source, vulnerabilityId: 'GHSA-aaaa-bbbb-cccc', aliases: ['CVE-2021-42378', 'cve-2021-42378'] }] };
    const result = await ingestReport(context(), { report: ghsa });

    const byAlias = await store().listOccurrences('CVE-2021-42378', { first: 10 });
    const inImage = await store().listFindings(result.image, { vulnerabilityId: 'CVE-2021-42378' }, { first: 10 });
    const all = await store().listFindings(result.image, {}, { first: 10 });

    expect(byAlias.items.map(({ node }) => node.finding.vulnerabilityId)).toEqual(['GHSA-aaaa-bbbb-cccc']);
    expect(inImage.items).toHaveLength(1);
    expect(all.items).toHaveLength(1);
  });
});
