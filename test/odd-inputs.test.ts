import { describe, expect, it } from 'vitest';

import { parseReport } from '@stratum/core';

import { readFixture } from './support/fixtures.ts';

const DIGEST = `sha256:${'ab'.repeat(32)}`;

describe('odd but valid reports', () => {
  it('reads a Trivy repository scan', () => {
    const report = parseReport({
      SchemaVersion: 2,
      ArtifactName: '.',
      ArtifactType: 'repository',
      Metadata: { ImageConfig: { architecture: '', created: '0001-01-01T00:00:00Z', os: '', rootfs: { type: '', diff_ids: null }, config: {} } },
      Results: [{ Target: 'Dockerfile', Class: 'config', Type: 'dockerfile', Misconfigurations: [] }],
    });

    expect(report.format).toBe('TRIVY');
    expect(report.image.config).toBeUndefined();
    expect(report.image.repository).toBeUndefined();
    expect(report.findings).toHaveLength(0);
  });

  it('reads Grype with null manifest and config', () => {
    const document = readFixture<{ source: { target: Record<string, unknown> } }>('reports/grype/dd-xjoin-kafka-connect-strimzi-rhel87-java.json');
    document.source.target.manifest = null;
    document.source.target.config = null;
    const report = parseReport(document);

    expect(report.findings).toHaveLength(35);
    expect(report.image.manifest).toBeUndefined();
    expect(report.image.diffIds?.length).toBeGreaterThan(0);
  });

  it('maps a legacy alpine purl to apk', () => {
    const document = readFixture<{ matches: Array<{ artifact: { purl?: string; type: string } }> }>('reports/grype/dd-xjoin-kafka-connect-strimzi-rhel87-java.json');
    document.matches[0]!.artifact.purl = 'pkg:alpine/libcurl@7.67.0-r3?arch=x86_64';
    document.matches[1]!.artifact.purl = '';
    const report = parseReport(document);

    expect(report.findings[0]?.package.type).toBe('apk');
    expect(parseReport({ ...document, matches: [{ ...document.matches[0]!, artifact: { ...document.matches[0]!.artifact, purl: 'pkg:cbl-mariner/vim@8.2.4081-1.cm1?arch=x86_64' } }] }).findings[0]?.package.type).toBe('rpm');
    expect(report.findings[1]?.package.purl).toBeUndefined();
  });

  it('keeps Grype severities in CycloneDX', () => {
    const report = parseReport({
      bomFormat: 'CycloneDX',
      specVersion: '1.6',
      version: 1,
      metadata: { component: { 'bom-ref': 'image', type: 'container', name: 'user-input', version: DIGEST } },
      components: [
        { 'bom-ref': 'pkg-1', type: 'library', name: 'package-1', version: '1.1.1', properties: [{ name: 'syft:package:type', value: 'rpm' }] },
        { 'bom-ref': 'pkg-2', type: 'library', name: 'package-2', version: '2.2.2', purl: 'pkg:deb/debian/package-2@2.2.2' },
      ],
      vulnerabilities: [
        { id: 'CVE-1999-0001', source: {}, ratings: [{ score: 8.2, severity: 'low', method: 'CVSSv31' }], affects: [{ ref: 'pkg-1', versions: [{ range: 'vers:rpm/>=1.2.1', status: 'unaffected' }] }] },
        { id: 'CVE-1999-0002', source: {}, ratings: [{ score: 8.5, severity: 'critical', method: 'CVSSv31' }], affects: [{ ref: 'pkg-2' }] },
      ],
    });
    const [first, second] = report.findings;

    expect(first?.severity).toBe('LOW');
    expect(first?.package.type).toBe('rpm');
    expect(first?.fixedVersion).toBe('1.2.1');
    expect(second?.severity).toBe('CRITICAL');
  });
});
