import { readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import { InvalidInputError } from '../errors.ts';
import { ecrImporter, mergeEcrPages } from './ecr.ts';

// Tests edit copies of the fixtures, so they are loaded as untyped JSON values.
type Json = any;

const BASIC = 'ecr-basic-describe-image-scan-findings-apiref.json';
const ENHANCED = 'ecr-enhanced-describe-image-scan-findings-apiref.trailing-commas.json5';
const IMAGE_DIGEST = 'sha256:74b2c688c700ec95a93e478cdb959737c148df3fbf5ea706abe0318726e885e6';
const LAYER_HASH = 'sha256:deb7d8874f38d4ec281d990aac2c7badbfcd5b97d602a388056e3f918a3f8cc7';

function readText(path: string): string {
  return readFileSync(new URL(`../../../../test/fixtures/reports/${path}`, import.meta.url), 'utf8');
}

/** Removes the trailing commas of the AWS documentation's enhanced sample, because strict JSON, as the API sends it, has none. */
function stripTrailingCommas(text: string): string {
  return text.replace(/,(\s*[}\]])/g, '$1');
}

function load(name: string): Json {
  return JSON.parse(stripTrailingCommas(readText(`ecr/${name}`)));
}

function enhancedPackage(document: Json): Json {
  return document.imageScanFindings.enhancedFindings[0].packageVulnerabilityDetails.vulnerablePackages[0];
}

function expectInvalid(action: () => unknown, path: string, value: string): void {
  let error: unknown;
  try {
    action();
  } catch (caught) {
    error = caught;
  }

  expect(error).toBeInstanceOf(InvalidInputError);
  expect((error as InvalidInputError).message).toContain(path);
  expect((error as InvalidInputError).message).toContain(value);
  expect((error as InvalidInputError).details.path).toBe(path);
}

describe('ECR importer', () => {
  it.each([
    [BASIC, 1],
    [ENHANCED, 1],
  ])('imports %s with %i findings', (name, count) => {
    const report = ecrImporter.parse(load(name));

    expect(report.format).toBe('ECR');
    expect(report.findings).toHaveLength(count);
  });

  it('reads a basic finding', () => {
    const report = ecrImporter.parse(load(BASIC));

    expect(report.scanner).toEqual({ name: 'Amazon ECR basic scanning' });
    expect(report.createdAt).toBe('2020-01-24T04:11:45.000Z');
    expect(report.image).toEqual({ manifestDigest: IMAGE_DIGEST, repository: 'sample-repo', tags: [] });
    expect(report.findings[0]).toEqual({
      vulnerabilityId: 'CVE-2019-5188',
      aliases: [],
      severity: 'MEDIUM',
      cvss: { score: 4.6, vector: 'AV:L/AC:L/Au:N/C:P/I:P/A:P', version: '2.0' },
      description: expect.stringContaining('E2fsprogs e2fsck 1.45.4'),
      package: { name: 'e2fsprogs', version: '1.44.1-1ubuntu1.1', type: 'unknown' },
      primaryUrl: 'http://people.ubuntu.com/~ubuntu-security/cve/CVE-2019-5188',
    });
  });

  it('prefers CVSS v3 attributes', () => {
    const document = load(BASIC);
    document.imageScanFindings.findings[0].attributes.push(
      { key: 'CVSS3_SCORE', value: '6.7' },
      { key: 'CVSS3_VECTOR', value: 'CVSS:3.1/AV:L/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H' },
    );

    expect(ecrImporter.parse(document).findings[0]?.cvss).toEqual({
      score: 6.7,
      vector: 'CVSS:3.1/AV:L/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H',
      version: '3.1',
    });
  });

  it.each([
    ['INFORMATIONAL', 'NEGLIGIBLE'],
    ['LOW', 'LOW'],
    ['CRITICAL', 'CRITICAL'],
    ['UNDEFINED', 'UNKNOWN'],
  ])('maps basic severity %s', (severity, expected) => {
    const document = load(BASIC);
    document.imageScanFindings.findings[0].severity = severity;

    expect(ecrImporter.parse(document).findings[0]?.severity).toBe(expected);
  });

  it('reads an enhanced finding', () => {
    const report = ecrImporter.parse(load(ENHANCED));

    expect(report.scanner).toEqual({ name: 'Amazon ECR enhanced scanning' });
    expect(report.createdAt).toBe('2025-06-09T07:08:40.144Z');
    expect(report.image).toEqual({ manifestDigest: IMAGE_DIGEST, repository: 'sample-repo', tags: ['latest'] });
    expect(report.findings[0]).toMatchObject({
      vulnerabilityId: 'CVE-2022-49043',
      severity: 'HIGH',
      title: 'CVE-2022-49043 - libxml2',
      package: { name: 'libxml2', version: '2.9.14+dfsg-1.3~deb12u1', type: 'deb' },
      layer: { hash: LAYER_HASH },
      dataSource: 'DEBIAN_CVE',
      primaryUrl: 'https://security-tracker.debian.org/tracker/CVE-2022-49043',
    });
    expect(report.findings[0]?.fixedVersion).toBeUndefined();
    expect(report.findings[0]?.cvss).toEqual({ score: 8.1, vector: 'CVSS:3.1/AV:L/AC:H/PR:N/UI:N/S:C/C:H/I:H/A:H', version: '3.1', source: 'nvd' });
  });

  it.each([
    ['OS', 'DEBIAN_12', 'deb'],
    ['OS', 'UBUNTU_22_04', 'deb'],
    ['OS', 'AMAZON_LINUX_2', 'rpm'],
    ['OS', 'AMAZON_LINUX_2023', 'rpm'],
    ['OS', 'ALPINE_LINUX_3_18', 'apk'],
    ['OS', 'WINDOWS_SERVER_2022', 'os'],
    ['NPM', 'DEBIAN_12', 'npm'],
    ['PYTHONPKG', 'DEBIAN_12', 'python'],
    ['JAR', 'DEBIAN_12', 'jar'],
    ['GOBINARY', 'DEBIAN_12', 'gobinary'],
    ['CARGO', 'DEBIAN_12', 'cargo'],
  ])('types %s packages on %s', (packageManager, platform, expected) => {
    const document = load(ENHANCED);
    enhancedPackage(document).packageManager = packageManager;
    document.imageScanFindings.enhancedFindings[0].resources[0].details.awsEcrContainerImage.platform = platform;

    expect(ecrImporter.parse(document).findings[0]?.package.type).toBe(expected);
  });

  it.each([
    [{ epoch: 0, version: '2.9.14+dfsg', release: '1.3~deb12u1' }, '2.9.14+dfsg-1.3~deb12u1'],
    [{ epoch: 1, version: '2.9.14+dfsg', release: '1.3~deb12u1' }, '1:2.9.14+dfsg-1.3~deb12u1'],
    [{ epoch: 0, version: '4.17.21', release: null }, '4.17.21'],
    [{ epoch: undefined, version: '4.17.21', release: undefined }, '4.17.21'],
  ])('builds version from %j', (fields, expected) => {
    const document = load(ENHANCED);
    Object.assign(enhancedPackage(document), fields);

    expect(ecrImporter.parse(document).findings[0]?.package.version).toBe(expected);
  });

  it.each([
    ['NotAvailable', undefined],
    ['0:2.9.14+dfsg-1.3~deb12u2', '2.9.14+dfsg-1.3~deb12u2'],
    ['1:2.9.14+dfsg-1.3~deb12u2', '1:2.9.14+dfsg-1.3~deb12u2'],
    ['4.17.21', '4.17.21'],
  ])('reads fixed version %s', (fixedInVersion, expected) => {
    const document = load(ENHANCED);
    enhancedPackage(document).fixedInVersion = fixedInVersion;

    expect(ecrImporter.parse(document).findings[0]?.fixedVersion).toBe(expected);
  });

  it.each(['SUPPRESSED', 'CLOSED'])('skips %s enhanced findings', (status) => {
    const document = load(ENHANCED);
    document.imageScanFindings.enhancedFindings[0].status = status;

    expect(ecrImporter.parse(document).findings).toEqual([]);
  });

  it.each([
    ['epoch seconds', 1579839105.5, '2020-01-24T04:11:45.500Z'],
    ['an ISO string', '2025-06-09T09:08:40+02:00', '2025-06-09T07:08:40.000Z'],
    ['a Date', new Date('2024-03-01T12:00:00Z'), '2024-03-01T12:00:00.000Z'],
  ])('reads scan time as %s', (_label, value, expected) => {
    const document = load(BASIC);
    document.imageScanFindings.imageScanCompletedAt = value;

    expect(ecrImporter.parse(document).createdAt).toBe(expected);
  });

  it('merges pages of one image', () => {
    const first = load(ENHANCED);
    const second = structuredClone(first);
    first.nextToken = 'page-2';
    second.imageScanFindings.enhancedFindings[0].packageVulnerabilityDetails.vulnerabilityId = 'CVE-2025-32414';

    const merged: Json = mergeEcrPages([first, second]);
    const report = ecrImporter.parse(merged);

    expect(merged.nextToken).toBeUndefined();
    expect(merged.imageScanFindings.findingSeverityCounts).toEqual({ HIGH: 2 });
    expect(report.findings.map((finding) => finding.vulnerabilityId)).toEqual(['CVE-2022-49043', 'CVE-2025-32414']);
  });

  it('parses an array of pages', () => {
    const report = ecrImporter.parse([load(BASIC), load(BASIC)]);

    expect(report.findings).toHaveLength(2);
    expect(report.image.manifestDigest).toBe(IMAGE_DIGEST);
  });

  it('rejects pages of two images', () => {
    const other = load(BASIC);
    other.imageId.imageDigest = `sha256:${'c'.repeat(64)}`;

    expectInvalid(() => mergeEcrPages([load(BASIC), other]), '[1].imageId.imageDigest', `sha256:${'c'.repeat(64)}`);
  });

  it.each([
    ['a basic response', true, () => load(BASIC)],
    ['an enhanced response', true, () => load(ENHANCED)],
    ['a list of pages', true, () => [load(BASIC), load(BASIC)]],
    ['an empty list', false, () => []],
    ['an Inspector2 page', false, () => ({ findings: [] })],
    ['a CycloneDX BOM', false, () => ({ bomFormat: 'CycloneDX' })],
  ])('detects %s: %s', (_label, expected, document) => {
    expect(ecrImporter.detect(document())).toBe(expected);
  });

  it('rejects an unfinished scan', () => {
    const document = load(BASIC);
    document.imageScanStatus = { status: 'IN_PROGRESS' };
    delete document.imageScanFindings;

    expectInvalid(() => ecrImporter.parse(document), 'imageScanStatus.status', '"IN_PROGRESS"');
  });

  it.each([
    ['a non-hex image digest', BASIC, (document: Json) => (document.imageId.imageDigest = 'sha256:74b2c688EXAMPLE'), 'imageId.imageDigest', '"sha256:74b2c688EXAMPLE"'],
    ['a missing repository', BASIC, (document: Json) => delete document.repositoryName, 'repositoryName', 'nothing'],
    ['missing findings', BASIC, (document: Json) => delete document.imageScanFindings, 'imageScanFindings', 'nothing'],
    [
      'a missing package name',
      BASIC,
      (document: Json) => document.imageScanFindings.findings[0].attributes.splice(1, 1),
      'imageScanFindings.findings[0].attributes',
      'expected a package_name attribute',
    ],
    ['a word as CVSS score', BASIC, (document: Json) => (document.imageScanFindings.findings[0].attributes[3].value = 'high'), 'imageScanFindings.findings[0].attributes[3].value', '"high"'],
    ['a boolean scan time', BASIC, (document: Json) => (document.imageScanFindings.imageScanCompletedAt = true), 'imageScanFindings.imageScanCompletedAt', 'true'],
    [
      'a non-hex layer hash',
      ENHANCED,
      (document: Json) => (enhancedPackage(document).sourceLayerHash = 'sha256:deb7EXAMPLE'),
      'imageScanFindings.enhancedFindings[0].packageVulnerabilityDetails.vulnerablePackages[0].sourceLayerHash',
      '"sha256:deb7EXAMPLE"',
    ],
    [
      'a missing vulnerability id',
      ENHANCED,
      (document: Json) => delete document.imageScanFindings.enhancedFindings[0].packageVulnerabilityDetails.vulnerabilityId,
      'imageScanFindings.enhancedFindings[0].packageVulnerabilityDetails.vulnerabilityId',
      'nothing',
    ],
  ])('rejects %s', (_label, name, edit, path, value) => {
    const document = load(name);
    edit(document);

    expectInvalid(() => ecrImporter.parse(document), path, value);
  });
});
