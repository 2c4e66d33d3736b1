import { readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import { InvalidInputError } from '../errors.ts';
import { cyclonedxImporter } from './cyclonedx.ts';

// Tests edit copies of the fixtures, so they are loaded as untyped JSON values.
type Json = any;

const UBUNTU = 'dd-trivy0481-cdx15-ubuntu-latest-with-vulns.json';
const FLUENTD = 'trivy-golden-cdx17-fluentd-image-vulns.json';
const ALPINE_SBOM = 'guac-syft058-cdx14-alpine-latest-sbom.json';

const LAYER_DIGEST = `sha256:${'a'.repeat(64)}`;

function load(name: string): Json {
  return JSON.parse(readFileSync(new URL(`../../../../test/fixtures/reports/cyclonedx/${name}`, import.meta.url), 'utf8'));
}

const parse = (name: string) => cyclonedxImporter.parse(load(name));

/** Builds a minimal Trivy-style BOM with one deb component and one vulnerability that affects it. */
function minimalBom(vulnerability: Json = {}, extra: Json = {}): Json {
  return {
    bomFormat: 'CycloneDX',
    specVersion: '1.6',
    serialNumber: 'urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79',
    version: 1,
    metadata: { tools: { components: [{ name: 'trivy', version: '0.60.0' }] } },
    components: [
      {
        'bom-ref': 'pkg:deb/debian/openssl@3.0.15-1~deb12u1?distro=debian-12',
        type: 'library',
        name: 'openssl',
        version: '3.0.15-1~deb12u1',
        purl: 'pkg:deb/debian/openssl@3.0.15-1~deb12u1?distro=debian-12',
        properties: [{ name: 'aquasecurity:trivy:LayerDiffID', value: LAYER_DIGEST }],
      },
    ],
    vulnerabilities: [
      {
        id: 'CVE-2024-0001',
        source: { name: 'debian' },
        ratings: [],
        affects: [{ ref: 'pkg:deb/debian/openssl@3.0.15-1~deb12u1?distro=debian-12' }],
        ...vulnerability,
      },
    ],
    ...extra,
  };
}

function expectInvalid(document: unknown, path: string, value: string): void {
  let error: unknown;
  try {
    cyclonedxImporter.parse(document);
  } catch (caught) {
    error = caught;
  }

  expect(error).toBeInstanceOf(InvalidInputError);
  expect((error as InvalidInputError).message).toContain(`CycloneDX document at ${path}`);
  expect((error as InvalidInputError).message).toContain(value);
  expect((error as InvalidInputError).details.path).toBe(path);
}

describe('CycloneDX importer', () => {
  it.each([
    [UBUNTU, 14],
    [FLUENTD, 3],
    [ALPINE_SBOM, 0],
  ])('imports %s with %i findings', (name, count) => {
    const report = parse(name);

    expect(report.format).toBe('CYCLONEDX');
    expect(report.findings).toHaveLength(count);
  });

  it.each([UBUNTU, FLUENTD, ALPINE_SBOM])('detects %s', (name) => {
    expect(cyclonedxImporter.detect(load(name))).toBe(true);
  });

  it.each([
    ['an SPDX document', { spdxVersion: 'SPDX-2.3' }],
    ['a Trivy report', { SchemaVersion: 2, Results: [] }],
    ['another bomFormat', { bomFormat: 'cyclonedx' }],
    ['null', null],
    ['an array', []],
  ])('does not detect %s', (_label, document) => {
    expect(cyclonedxImporter.detect(document)).toBe(false);
  });

  it('counts ubuntu vulnerabilities once', () => {
    const ids = new Set(parse(UBUNTU).findings.map((finding) => finding.vulnerabilityId));

    expect(ids.size).toBe(10);
    expect(ids).toContain('CVE-2016-2781');
    expect(ids).toContain('TEMP-0290435-0B57B5');
  });

  it('reads the ubuntu image identity', () => {
    const report = parse(UBUNTU);

    expect(report.scanner).toEqual({ name: 'trivy', version: '0.48.1' });
    expect(report.createdAt).toBe('2024-01-04T15:25:30+00:00');
    expect(report.image).toEqual({
      manifestDigest: 'sha256:6042500cf4b44023ea1894effe7890666b0c5c7871ed83a97c36c76ae560bb9b',
      imageId: 'sha256:174c8c134b2a94b5bb0b37d9a2b6ba0663d82d23ebf62bd51f74a2fd457333da',
      repository: 'ubuntu',
      tags: ['latest'],
      diffIds: ['sha256:a1360aae5271bbbf575b4057cb4158dbdfbcae76698189b55fb1039bc0207400'],
      os: { family: 'ubuntu', name: '22.04' },
    });
  });

  it('normalizes the coreutils finding', () => {
    const coreutils = parse(UBUNTU).findings.find((finding) => finding.vulnerabilityId === 'CVE-2016-2781');

    expect(coreutils).toMatchObject({
      severity: 'LOW',
      dataSource: 'ubuntu',
      primaryUrl: 'https://avd.aquasec.com/nvd/cve-2016-2781',
      package: {
        name: 'coreutils',
        version: '8.32-4.1ubuntu1',
        type: 'deb',
        purl: 'pkg:deb/ubuntu/coreutils@8.32-4.1ubuntu1?arch=amd64&distro=ubuntu-22.04',
      },
      layer: {
        diffId: 'sha256:a1360aae5271bbbf575b4057cb4158dbdfbcae76698189b55fb1039bc0207400',
        digest: 'sha256:a486411936734b0d1d201c8a0ed8e9d449a64d5033fdc33411ec95bc26460efb',
      },
    });
    expect(coreutils?.cvss).toEqual({ score: 6.5, vector: 'CVSS:3.0/AV:L/AC:L/PR:L/UI:N/S:C/C:N/I:H/A:N', version: '3.0', source: 'nvd' });
    expect(coreutils?.fixedVersion).toBeUndefined();
  });

  it('creates one finding per affected component', () => {
    const packages = parse(UBUNTU)
      .findings.filter((finding) => finding.vulnerabilityId === 'CVE-2022-27943')
      .map((finding) => finding.package.name);

    expect(packages).toEqual(['gcc-12-base', 'libgcc-s1', 'libstdc++6']);
  });

  it('adds the purl epoch to versions', () => {
    const pcre = parse(UBUNTU).findings.find((finding) => finding.package.name === 'libpcre3');

    expect(pcre?.package.version).toBe('2:8.39-13ubuntu0.22.04.1');
  });

  it('reads a dangling purl ref', () => {
    const tar = parse(UBUNTU).findings.find((finding) => finding.vulnerabilityId === 'TEMP-0290435-0B57B5');

    expect(tar?.package).toEqual({
      name: 'tar',
      version: '1.30+dfsg-6',
      type: 'deb',
      purl: 'pkg:deb/debian/tar@1.30%2Bdfsg-6?arch=amd64&distro=debian-10.12',
      path: undefined,
    });
    expect(tar?.layer).toBeUndefined();
    expect(tar?.severity).toBe('LOW');
  });

  it('reads the CycloneDX 1.7 image', () => {
    const report = parse(FLUENTD);

    expect(report.scanner).toEqual({ name: 'trivy', version: 'dev' });
    expect(report.image.imageId).toBe('sha256:5a992077baba51b97f27591a10d54d2f2723dc9c81a3fe419e261023f2554933');
    expect(report.image.diffIds).toHaveLength(6);
    expect(report.image.diffIds?.[0]).toBe('sha256:02874b2b269dea8dde0f7edb4c9906904dfe38a09de1a214f20c650cfb15c60e');
    expect(report.image.diffIds?.[5]).toBe('sha256:831c5620387fb9efec59fc82a42b948546c6be601e3ab34a87108ecf852aa15f');
    expect(report.image.manifestDigest).toBeUndefined();
    expect(report.image.repository).toBeUndefined();
    expect(report.image.os).toEqual({ family: 'debian', name: '10.2' });
  });

  it.each([
    ['CVE-2019-18224', 'libidn2-0', 'CRITICAL', '2.0.5-1+deb10u1'],
    ['CVE-2019-18276', 'bash', 'LOW', undefined],
    ['CVE-2020-8165', 'activesupport', 'HIGH', undefined],
  ])('reads fluentd %s', (id, name, severity, fixedVersion) => {
    const finding = parse(FLUENTD).findings.find((candidate) => candidate.vulnerabilityId === id);

    expect(finding?.package.name).toBe(name);
    expect(finding?.severity).toBe(severity);
    expect(finding?.fixedVersion).toBe(fixedVersion);
  });

  it('reads a gem package', () => {
    const gem = parse(FLUENTD).findings.find((finding) => finding.package.name === 'activesupport');

    expect(gem?.package).toEqual({
      name: 'activesupport',
      version: '6.0.2.1',
      type: 'gem',
      purl: 'pkg:gem/activesupport@6.0.2.1',
      path: 'var/lib/gems/2.5.0/specifications/activesupport-6.0.2.1.gemspec',
    });
    expect(gem?.layer?.diffId).toBe('sha256:75e43d55939745950bc3f8fad56c5834617c4339f0f54755e69a0dd5372624e9');
    expect(gem?.cvss).toMatchObject({ score: 9.8, version: '3.1', source: 'nvd' });
  });

  it('reads the syft SBOM image', () => {
    const report = parse(ALPINE_SBOM);

    expect(report.scanner).toEqual({ name: 'syft', version: '0.58.0' });
    expect(report.image).toEqual({
      manifestDigest: 'sha256:cbaa390ec61abd889dfa5146a411c11717c19ef9e5e18458dbdc06439076ffe7',
      imageId: undefined,
      repository: 'docker.io/library/alpine',
      tags: ['latest'],
      diffIds: undefined,
      os: { family: 'alpine', name: '3.16.2' },
    });
  });

  it('resolves a BOM-Link to a syft component', () => {
    const bom = load(ALPINE_SBOM);
    const busybox = bom.components.find((component: Json) => component.name === 'busybox');
    bom.vulnerabilities = [
      {
        id: 'CVE-2022-30065',
        ratings: [{ source: { name: 'nvd' }, score: 7.8, severity: 'high', method: 'CVSSv31' }],
        affects: [{ ref: `urn:cdx:90630c1e-1df2-4d35-85fa-a4e8ebd22d70/1#${encodeURIComponent(busybox['bom-ref'])}` }],
      },
    ];

    const [finding] = cyclonedxImporter.parse(bom).findings;

    expect(finding?.package).toMatchObject({ name: 'busybox', version: '1.35.0-r17', type: 'apk' });
    expect(finding?.layer).toEqual({ diffId: 'sha256:994393dc58e7931862558d06e46aa2bb17487044f670f310dffe1d24e4d1eec7', digest: undefined });
    expect(finding?.severity).toBe('HIGH');
  });

  it('merges duplicate affects entries', () => {
    const ref = 'pkg:deb/debian/openssl@3.0.15-1~deb12u1?distro=debian-12';
    const report = cyclonedxImporter.parse(minimalBom({ affects: [{ ref }, { ref }] }));

    expect(report.findings).toHaveLength(1);
  });

  it.each([
    ['own source first', 'debian', [{ source: { name: 'nvd' }, severity: 'high' }, { source: { name: 'debian' }, severity: 'low' }], 'LOW'],
    ['nvd second', 'debian', [{ source: { name: 'redhat' }, severity: 'moderate' }, { source: { name: 'nvd' }, severity: 'critical' }], 'CRITICAL'],
    [
      'nvd v3 over v2',
      'ubuntu',
      [
        { source: { name: 'nvd' }, severity: 'high', score: 7.5, method: 'CVSSv2' },
        { source: { name: 'nvd' }, severity: 'critical', score: 9.8, method: 'CVSSv31' },
      ],
      'CRITICAL',
    ],
    [
      'max score third',
      'debian',
      [
        { source: { name: 'redhat' }, score: 5.5, method: 'CVSSv31' },
        { source: { name: 'ghsa' }, score: 9.1, method: 'CVSSv31' },
      ],
      'CRITICAL',
    ],
    ['vendor word last', 'debian', [{ source: { name: 'photon' }, severity: 'medium' }], 'MEDIUM'],
    ['info as negligible', 'nvd', [{ source: { name: 'nvd' }, severity: 'info' }], 'NEGLIGIBLE'],
    ['no ratings', 'debian', [], 'UNKNOWN'],
  ])('picks severity: %s', (_label, source, ratings, expected) => {
    const [finding] = cyclonedxImporter.parse(minimalBom({ source: { name: source }, ratings })).findings;

    expect(finding?.severity).toBe(expected);
  });

  it('prefers v3 CVSS over v2', () => {
    const ratings = [
      { source: { name: 'debian' }, score: 7.2, method: 'CVSSv2', vector: 'AV:L/AC:L/Au:N/C:C/I:C/A:C' },
      { source: { name: 'redhat' }, score: 7.8, method: 'CVSSv31', vector: 'CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H' },
    ];
    const [finding] = cyclonedxImporter.parse(minimalBom({ ratings })).findings;

    expect(finding?.cvss).toEqual({ score: 7.8, vector: 'CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H', version: '3.1', source: 'redhat' });
  });

  it.each([
    ['an unaffected version', { affects: [{ ref: 'pkg:deb/debian/openssl@3.0.15-1~deb12u1?distro=debian-12', versions: [{ version: '3.0.16-1~deb12u1', status: 'unaffected' }] }] }, '3.0.16-1~deb12u1'],
    ['Trivy recommendation', { recommendation: 'Upgrade openssl to version 3.0.16-1~deb12u1' }, '3.0.16-1~deb12u1'],
    ['recommendation for another package', { recommendation: 'Upgrade libssl3 to version 3.0.16-1~deb12u1' }, undefined],
    ['recommendation with two versions', { recommendation: 'Upgrade openssl to version 3.0.16, 3.1.8' }, undefined],
    ['free-text recommendation', { recommendation: 'Apply the vendor patch' }, undefined],
  ])('reads fixed version from %s', (_label, vulnerability, expected) => {
    const [finding] = cyclonedxImporter.parse(minimalBom(vulnerability)).findings;

    expect(finding?.fixedVersion).toBe(expected);
  });

  it('collects aliases from references', () => {
    const references = [
      { id: 'GHSA-xxxx-yyyy-zzzz', source: { name: 'GitHub' } },
      { id: 'CVE-2024-0001', source: { name: 'NVD' } },
    ];
    const [finding] = cyclonedxImporter.parse(minimalBom({ references })).findings;

    expect(finding?.aliases).toEqual(['GHSA-xxxx-yyyy-zzzz']);
  });

  it.each([
    ['a 1.4 tools array', [{ vendor: 'anchore', name: 'grype', version: '0.87.0' }], { name: 'grype', version: '0.87.0' }],
    ['1.5 tool components', { components: [{ type: 'application', name: 'trivy', version: '0.60.0' }] }, { name: 'trivy', version: '0.60.0' }],
    ['1.5 tool services', { services: [{ name: 'scanner-service' }] }, { name: 'scanner-service', version: undefined }],
    ['no tools', undefined, { name: 'unknown' }],
  ])('reads scanner from %s', (_label, tools, expected) => {
    const report = cyclonedxImporter.parse(minimalBom({}, { metadata: { tools } }));

    expect(report.scanner).toEqual(expected);
  });

  it('reads digest from an OCI purl', () => {
    const digest = `sha256:${'b'.repeat(64)}`;
    const component = {
      'bom-ref': 'image',
      type: 'container',
      name: 'registry.example.com/team/app',
      purl: `pkg:oci/app@${encodeURIComponent(digest)}?repository_url=registry.example.com%2Fteam%2Fapp`,
    };
    const report = cyclonedxImporter.parse(minimalBom({}, { metadata: { component } }));

    expect(report.image.manifestDigest).toBe(digest);
    expect(report.image.repository).toBe('registry.example.com/team/app');
  });

  it('accepts a BOM without vulnerabilities', () => {
    const { vulnerabilities: _removed, ...bom } = minimalBom();

    expect(cyclonedxImporter.parse(bom).findings).toEqual([]);
  });

  it.each([
    ['a non-hex layer diff_id', (bom: Json) => (bom.components[0].properties[0].value = 'sha256:EXAMPLE'), 'components[0].properties[0].value', '"sha256:EXAMPLE"'],
    [
      'a short image ID',
      (bom: Json) => (bom.metadata.component = { type: 'container', name: 'app', properties: [{ name: 'aquasecurity:trivy:ImageID', value: 'sha256:abc' }] }),
      'metadata.component.properties[0].value',
      '"sha256:abc"',
    ],
    [
      'a repo digest without digest',
      (bom: Json) => (bom.metadata.component = { type: 'container', name: 'app', properties: [{ name: 'aquasecurity:trivy:RepoDigest', value: 'app:latest' }] }),
      'metadata.component.properties[0].value',
      '"app:latest"',
    ],
    ['a numeric vulnerability id', (bom: Json) => (bom.vulnerabilities[0].id = 2024), 'vulnerabilities[0].id', '2024'],
    ['a component without name', (bom: Json) => delete bom.components[0].name, 'components[0].name', 'nothing'],
    ['components as an object', (bom: Json) => (bom.components = {}), 'components', '{}'],
    ['an unknown bom-ref', (bom: Json) => (bom.vulnerabilities[0].affects[0].ref = 'product-ABC'), 'vulnerabilities[0].affects[0].ref', '"product-ABC"'],
    ['a string score', (bom: Json) => (bom.vulnerabilities[0].ratings = [{ score: '9.8' }]), 'vulnerabilities[0].ratings[0].score', '"9.8"'],
    ['another bomFormat', (bom: Json) => (bom.bomFormat = 'SPDX'), 'bomFormat', '"SPDX"'],
  ])('rejects %s', (_label, edit, path, value) => {
    const bom = minimalBom();
    edit(bom);

    expectInvalid(bom, path, value);
  });
});
