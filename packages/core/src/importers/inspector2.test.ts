import { readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import { InvalidInputError } from '../errors.ts';
import { groupInspectorFindingsByImage, inspector2Importer } from './inspector2.ts';

// Tests edit copies of the fixtures, so they are loaded as untyped JSON values.
type Json = any;

const MANY = 'inspector2/dd-inspector2-listfindings-7ecr-1ec2.json';
const ONE = 'inspector2/dd-inspector2-listfindings-ecr-debian10-one.json';
const ZERO = 'inspector2/dd-inspector2-listfindings-zero.json';
const FINDING_EVENT = '../events/eventbridge-inspector2-finding-ecr.json';
const SCAN_EVENT = '../events/eventbridge-inspector2-scan-ecr.json';

const MANY_IMAGE = 'sha256:d667ad018b538adadb5bd1db75836c8561b23bc7d31d9cd8941fa74f5df93802';
const ONE_IMAGE = 'sha256:c667ad018b538adadb5bd1db75836c8561b23bc7d31d9cd8941fa74f5df93802';
const LAYER_HASH = 'sha256:11a88e76431345b48525c4e4d58d497810019f4bafdb5e2bd56dc34a05e09cc3';
const EVENT_IMAGE_HASH = 'sha256:36c7b282abd0186e01419f2e58743e1bf635808231049bbc9d77e5EXAMPLE';

function load(path: string): Json {
  return JSON.parse(readFileSync(new URL(`../../../../test/fixtures/reports/${path}`, import.meta.url), 'utf8'));
}

const parse = (path: string) => inspector2Importer.parse(load(path));

/** Loads the documentation event and replaces its placeholder digests with valid ones. */
function validFindingEvent(): Json {
  const event = load(FINDING_EVENT);
  event.detail.resources[0].details.awsEcrContainerImage.imageHash = `sha256:${'3'.repeat(64)}`;
  event.detail.packageVulnerabilityDetails.vulnerablePackages[0].sourceLayerHash = `sha256:${'7'.repeat(64)}`;
  return event;
}

function firstFinding(document: Json): Json {
  return document.findings[0];
}

function expectInvalid(action: () => unknown, path: string, value: string): InvalidInputError {
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
  return error as InvalidInputError;
}

describe('Inspector2 importer', () => {
  it.each([
    [MANY, 7],
    [ONE, 1],
    [ZERO, 0],
  ])('imports %s with %i findings', (path, count) => {
    const report = parse(path);

    expect(report.format).toBe('INSPECTOR2');
    expect(report.findings).toHaveLength(count);
  });

  it('keeps only active ECR findings', () => {
    const ids = parse(MANY).findings.map((finding) => finding.vulnerabilityId);

    expect(ids).toEqual(['CVE-2024-37021', 'CVE-2021-3640', 'CVE-2021-47013', 'CVE-2022-29824', 'CVE-2022-29824', 'CVE-2023-42753', 'CVE-2020-27170']);
    expect(ids).not.toContain('CVE-2015-8035');
    expect(ids).not.toContain('CVE-2021-3744');
  });

  it('reads the ECR image', () => {
    const report = parse(MANY);

    expect(report.scanner).toEqual({ name: 'Amazon Inspector' });
    expect(report.image).toEqual({ manifestDigest: MANY_IMAGE, repository: 'my-awesome-docker-image', tags: ['2.3.0'] });
    expect(report.createdAt).toBe('2024-07-31T15:59:32.000Z');
  });

  it('normalizes a kernel finding', () => {
    const finding = parse(MANY).findings.find((candidate) => candidate.vulnerabilityId === 'CVE-2023-42753');

    expect(finding).toMatchObject({
      severity: 'HIGH',
      title: 'CVE-2023-42753 - linux',
      fixedVersion: '4.19.304-1',
      package: { name: 'linux', version: '4.19.118-2', type: 'deb' },
      layer: { hash: LAYER_HASH },
      dataSource: 'DEBIAN_CVE',
      primaryUrl: 'https://security-tracker.debian.org/tracker/CVE-2023-42753',
    });
    expect(finding?.cvss).toEqual({ score: 7.8, vector: 'CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H', version: '3.1', source: 'nvd' });
  });

  it('splits findings per package', () => {
    const libxml2 = parse(MANY).findings.filter((finding) => finding.vulnerabilityId === 'CVE-2022-29824');

    expect(libxml2.map((finding) => finding.package.version)).toEqual(['2.9.4+dfsg1-7+b3', '2.9.4+dfsg1-7']);
    expect(libxml2.map((finding) => finding.fixedVersion)).toEqual(['2.9.4+dfsg1-7+deb10u4', '2.9.4+dfsg1-7+deb10u4']);
  });

  it('keeps untriaged severity unknown', () => {
    const finding = parse(MANY).findings.find((candidate) => candidate.vulnerabilityId === 'CVE-2024-37021');

    expect(finding?.severity).toBe('UNKNOWN');
    expect(finding?.cvss).toBeUndefined();
    expect(finding?.fixedVersion).toBeUndefined();
  });

  it('reads ISO dates with offsets', () => {
    const report = parse(ONE);

    expect(report.createdAt).toBe('2024-06-14T02:03:53.051Z');
    expect(report.image.manifestDigest).toBe(ONE_IMAGE);
    expect(report.findings[0]).toMatchObject({ vulnerabilityId: 'CVE-2021-3744', severity: 'MEDIUM', fixedVersion: '4.19.232-1' });
  });

  it('reads an empty findings page', () => {
    expect(parse(ZERO).image).toEqual({ tags: [] });
  });

  it('ignores EC2 findings', () => {
    const document = load(MANY);
    document.findings = document.findings.filter((finding: Json) => finding.resources[0].type === 'AWS_EC2_INSTANCE');

    const report = inspector2Importer.parse(document);

    expect(document.findings).toHaveLength(1);
    expect(report.findings).toEqual([]);
    expect(report.image.manifestDigest).toBeUndefined();
  });

  it('rejects the docs event digest', () => {
    const error = expectInvalid(() => parse(FINDING_EVENT), 'detail.resources[0].details.awsEcrContainerImage.imageHash', EVENT_IMAGE_HASH);

    expect(error.message).toContain('Inspector2');
    expect(error.details.value).toBe(EVENT_IMAGE_HASH);
  });

  it('reads a finding event', () => {
    const report = inspector2Importer.parse(validFindingEvent());

    expect(report.createdAt).toBe('2021-12-03T18:02:30.000Z');
    expect(report.image).toEqual({ manifestDigest: `sha256:${'3'.repeat(64)}`, repository: 'amazon/amazon-ecs-sample', tags: ['latest'] });
    expect(report.findings).toHaveLength(1);
    expect(report.findings[0]).toMatchObject({
      vulnerabilityId: 'CVE-2019-17498',
      severity: 'MEDIUM',
      package: { name: 'libssh2', version: '1.4.3-12.amzn2.2', type: 'rpm' },
      layer: { hash: `sha256:${'7'.repeat(64)}` },
      dataSource: 'REDHAT_CVE',
    });
    expect(report.findings[0]?.cvss).toEqual({ score: 6.5, vector: 'CVSS:3.0/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:N/A:N', version: '3.0', source: 'redhat' });
  });

  it('rejects a scan event', () => {
    const event = load(SCAN_EVENT);

    expect(inspector2Importer.detect(event)).toBe(false);
    expectInvalid(() => inspector2Importer.parse(event), 'detail-type', '"Inspector2 Scan"');
  });

  it.each([
    ['a ListFindings page', true, () => load(MANY)],
    ['an empty page', true, () => load(ZERO)],
    ['a finding event', true, () => load(FINDING_EVENT)],
    ['a scan event', false, () => load(SCAN_EVENT)],
    ['an ECR response', false, () => ({ imageScanFindings: {}, imageId: {} })],
    ['unrelated findings', false, () => ({ findings: [{ id: 1 }] })],
    ['null', false, () => null],
  ])('detects %s: %s', (_label, expected, document) => {
    expect(inspector2Importer.detect(document())).toBe(expected);
  });

  it('rejects findings of two images', () => {
    const document = { findings: [...load(MANY).findings, ...load(ONE).findings] };

    const error = expectInvalid(() => inspector2Importer.parse(document), 'findings', MANY_IMAGE);

    expect(error.message).toContain(ONE_IMAGE);
    expect(error.message).toContain('groupInspectorFindingsByImage');
  });

  it('groups findings by image', () => {
    const document = { findings: [...load(MANY).findings, ...load(ONE).findings] };

    const groups = groupInspectorFindingsByImage(document);

    expect(groups.map((group) => group.imageDigest)).toEqual([MANY_IMAGE, ONE_IMAGE]);
    expect(groups.map((group) => group.document.findings.length)).toEqual([7, 1]);
    expect(groups.map((group) => inspector2Importer.parse(group.document).findings.length)).toEqual([7, 1]);
    expect(groups[0]?.repository).toBe('my-awesome-docker-image');
  });

  it('groups a finding event', () => {
    const groups = groupInspectorFindingsByImage(validFindingEvent());

    expect(groups).toHaveLength(1);
    expect(groups[0]?.document.findings[0]).toMatchObject({ title: 'CVE-2019-17498 - libssh2' });
  });

  it.each([
    ['ACTIVE', 1],
    ['CLOSED', 0],
    ['SUPPRESSED', 0],
  ])('counts %s findings', (status, count) => {
    const document = load(ONE);
    firstFinding(document).status = status;

    expect(inspector2Importer.parse(document).findings).toHaveLength(count);
  });

  it.each([
    ['stated severity', { severity: 'CRITICAL' }, 'CRITICAL'],
    ['informational', { severity: 'INFORMATIONAL' }, 'NEGLIGIBLE'],
    ['vendor severity', { severity: 'UNTRIAGED', vendorSeverity: 'HIGH' }, 'HIGH'],
    ['inspector score', { severity: 'UNTRIAGED', vendorSeverity: 'not yet assigned', inspectorScore: 9.1 }, 'CRITICAL'],
    ['nothing usable', { severity: 'UNTRIAGED', vendorSeverity: 'not yet assigned', inspectorScore: undefined }, 'UNKNOWN'],
  ])('falls back to %s', (_label, fields, expected) => {
    const document = load(ONE);
    const finding = firstFinding(document);
    finding.severity = fields.severity;
    if ('vendorSeverity' in fields) finding.packageVulnerabilityDetails.vendorSeverity = fields.vendorSeverity;
    if ('inspectorScore' in fields) finding.inspectorScore = fields.inspectorScore;

    expect(inspector2Importer.parse(document).findings[0]?.severity).toBe(expected);
  });

  it.each([
    ['REDHAT_CVE', { score: 6.5, vector: 'CVSS:3.0/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:N/A:N', version: '3.0', source: 'redhat' }],
    ['NVD', { score: 8.1, vector: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:N/A:H', version: '3.1', source: 'nvd' }],
    ['DEBIAN_CVE', { score: 8.1, vector: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:N/A:H', version: '3.1', source: 'nvd' }],
  ])('picks listed CVSS for %s', (source, expected) => {
    const event = validFindingEvent();
    delete event.detail.inspectorScoreDetails;
    event.detail.packageVulnerabilityDetails.source = source;

    expect(inspector2Importer.parse(event).findings[0]?.cvss).toEqual(expected);
  });

  it.each([
    ['a plain name', 'my-awesome-docker-image', 'my-awesome-docker-image'],
    ['a nested name', 'team/service', 'team/service'],
    ['a repository ARN', 'arn:aws:ecr:us-east-1:012345678901:repository/team/service', 'team/service'],
  ])('reads repository from %s', (_label, repositoryName, expected) => {
    const document = load(ONE);
    firstFinding(document).resources[0].details.awsEcrContainerImage.repositoryName = repositoryName;

    expect(inspector2Importer.parse(document).image.repository).toBe(expected);
  });

  it.each([
    ['console dates', 'Dec 3, 2021, 6:02:30 PM'],
    ['ISO dates', '2021-12-03T18:02:30+01:00'],
    ['SDK dates', new Date('2021-12-03T18:02:30Z')],
  ])('accepts %s', (_label, value) => {
    const event = validFindingEvent();
    event.detail.firstObservedAt = value;
    event.detail.updatedAt = value;

    expect(inspector2Importer.parse(event).findings).toHaveLength(1);
  });

  it.each([
    ['findings as an object', (document: Json) => (document.findings = {}), 'findings', '{}'],
    [
      'a missing vulnerability id',
      (document: Json) => delete firstFinding(document).packageVulnerabilityDetails.vulnerabilityId,
      'findings[0].packageVulnerabilityDetails.vulnerabilityId',
      'nothing',
    ],
    [
      'an image without details',
      (document: Json) => delete firstFinding(document).resources[0].details,
      'findings[0].resources[0].details.awsEcrContainerImage',
      'nothing',
    ],
    [
      'a vulnerability without details',
      (document: Json) => delete firstFinding(document).packageVulnerabilityDetails,
      'findings[0].packageVulnerabilityDetails',
      'nothing',
    ],
    [
      'an empty package list',
      (document: Json) => (firstFinding(document).packageVulnerabilityDetails.vulnerablePackages = []),
      'findings[0].packageVulnerabilityDetails.vulnerablePackages',
      '[]',
    ],
    [
      'a truncated layer hash',
      (document: Json) => (firstFinding(document).packageVulnerabilityDetails.vulnerablePackages[0].sourceLayerHash = 'sha256:11a88e76'),
      'findings[0].packageVulnerabilityDetails.vulnerablePackages[0].sourceLayerHash',
      '"sha256:11a88e76"',
    ],
    ['a numeric date', (document: Json) => (firstFinding(document).firstObservedAt = 1638554550), 'findings[0].firstObservedAt', '1638554550'],
    ['a missing status type', (document: Json) => delete firstFinding(document).type, 'findings[0].type', 'nothing'],
  ])('rejects %s', (_label, edit, path, value) => {
    const document = load(ONE);
    edit(document);

    expectInvalid(() => inspector2Importer.parse(document), path, value);
  });
});
