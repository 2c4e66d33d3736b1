import { describe, expect, it } from 'vitest';

import { readFixture } from '../../../../test/support/fixtures.ts';
import { grypeImporter } from './grype.ts';

const parse = (name: string) => grypeImporter.parse(readFixture(`reports/grype/${name}`));

describe('Grype importer', () => {
  it.each([
    ['dd-defectdojo-django-1.13.1-debian10-python.json', 327],
    ['dd-xjoin-kafka-connect-strimzi-rhel87-java.json', 35],
    ['dd-busybox-latest-no-matches.json', 0],
  ])('imports %s with %i findings', (name, count) => {
    const report = parse(name);

    expect(report.format).toBe('GRYPE');
    expect(report.findings).toHaveLength(count);
  });

  it('decodes the embedded manifest and config', () => {
    const { image } = parse('dd-defectdojo-django-1.13.1-debian10-python.json');

    expect(image.manifestDigest).toBe('sha256:91bc0f1478c6d26e04da5c2a59ac20262ec2661942418e2a3e7c77245d872658');
    expect(image.manifest?.layers).toHaveLength(18);
    expect(image.config?.rootfs.diff_ids).toHaveLength(18);
    expect(image.repository).toBe('defectdojo/defectdojo-django');
    expect(image.tags).toEqual(['1.13.1']);
  });

  it('places a package by its own files', () => {
    const { findings, image } = parse('dd-defectdojo-django-1.13.1-debian10-python.json');
    const bash = findings.find((finding) => finding.package.name === 'bash');

    // dpkg's status file was last written by an application layer; bash's own files are in layer 0.
    expect(bash?.layer?.diffId).toBe(image.config?.rootfs.diff_ids[0]);
  });

  it('normalizes severities and CVSS', () => {
    const { findings } = parse('dd-defectdojo-django-1.13.1-debian10-python.json');
    const bash = findings.find((finding) => finding.vulnerabilityId === 'CVE-2019-18276');

    expect(bash?.severity).toBe('NEGLIGIBLE');
    expect(bash?.cvss).toEqual({ score: 7.2, vector: 'AV:L/AC:L/Au:N/C:C/I:C/A:C', version: '2.0' });
  });

  it('reads current-schema cvss lists', () => {
    const { findings, scanner } = parse('dd-xjoin-kafka-connect-strimzi-rhel87-java.json');
    const avahi = findings.find((finding) => finding.package.name === 'avahi-libs');

    expect(scanner).toEqual({ name: 'grype', version: '0.96.0' });
    expect(avahi?.package.type).toBe('rpm');
    expect(avahi?.cvss?.score).toBeGreaterThan(0);
  });

  it('rejects a match without artifact', () => {
    const document = readFixture<{ matches: Array<Record<string, unknown>> }>('reports/grype/dd-defectdojo-django-1.13.1-debian10-python.json');
    delete document.matches[3]!.artifact;

    expect(() => grypeImporter.parse(document)).toThrow(/Grype JSON.*matches\[3\]\.artifact/);
  });
});
