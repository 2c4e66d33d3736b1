import { describe, expect, it } from 'vitest';

import { readFixture } from '../../../../test/support/fixtures.ts';
import { InvalidInputError } from '../errors.ts';
import { trivyImporter } from './trivy.ts';

const parse = (name: string) => trivyImporter.parse(readFixture(`reports/trivy/${name}`));

describe('Trivy importer', () => {
  it.each([
    ['scb-juice-shop-v12.10.2-alpine-node.json', 182],
    ['dd-legacy-list-format-many.json', 93],
    ['dd-teamdojo-alpine-jar-multitarget.json', 5],
    ['trivy-golden-alpine-310.json', 4],
    ['trivy-golden-busybox-cargo-no-os.json', 2],
    ['trivy-golden-distroless-python27.json', 4],
    ['trivy-golden-spring4shell-jre8-tomcat.json', 1],
    ['scb-juice-shop-v12.10.2-empty-results.json', 0],
    ['scb-juice-shop-v12.10.2-no-results-key.json', 0],
  ])('imports %s with %i findings', (name, count) => {
    const report = parse(name);

    expect(report.format).toBe('TRIVY');
    expect(report.findings).toHaveLength(count);
  });

  it.each([
    'scb-juice-shop-v12.10.2-alpine-node.json',
    'dd-legacy-list-format-many.json',
    'trivy-golden-busybox-cargo-no-os.json',
    'scb-juice-shop-v12.10.2-no-results-key.json',
  ])('detects %s', (name) => {
    expect(trivyImporter.detect(readFixture(`reports/trivy/${name}`))).toBe(true);
  });

  it('reads the Juice Shop image identity', () => {
    const { image } = parse('scb-juice-shop-v12.10.2-alpine-node.json');

    expect(image.imageId).toBe('sha256:be30ca1df4be08840f6ca53885a1d371d35f54eae326161a2a40aa3c535fe703');
    expect(image.repository).toBe('bkimminich/juice-shop');
    expect(image.tags).toEqual(['v12.10.2']);
    expect(image.diffIds).toHaveLength(8);
    expect(image.config?.history).toHaveLength(19);
    expect(image.os).toEqual({ family: 'alpine', name: '3.11.12' });
  });

  it('normalizes an OS package finding', () => {
    const { findings } = parse('scb-juice-shop-v12.10.2-alpine-node.json');
    const busybox = findings.find((finding) => finding.vulnerabilityId === 'CVE-2021-42378' && finding.package.name === 'busybox');

    expect(busybox).toMatchObject({
      severity: 'HIGH',
      fixedVersion: '1.31.1-r11',
      package: { name: 'busybox', version: '1.31.1-r10', type: 'apk', purl: 'pkg:apk/alpine/busybox@1.31.1-r10?arch=x86_64&distro=3.11.12' },
      layer: {
        digest: 'sha256:6a428f9f83b0a29f1fdd2ccccca19a9bab805a925b8eddf432a5a3d3da04afbc',
        diffId: 'sha256:39982b2a789afc156fff00c707d0ff1c6ab4af8f1666a8df4787714059ce24e7',
      },
      dataSource: 'alpine',
    });
    expect(busybox?.cvss).toEqual({ score: 7.2, vector: 'CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H', version: '3.1', source: 'nvd' });
  });

  it('types language packages from their purl', () => {
    const { findings } = parse('scb-juice-shop-v12.10.2-alpine-node.json');
    const types = new Set(findings.map((finding) => finding.package.type));

    expect(types).toEqual(new Set(['apk', 'npm']));
  });

  it('keeps the package path of a jar', () => {
    const { findings } = parse('trivy-golden-spring4shell-jre8-tomcat.json');

    expect(findings[0]?.package.name).toBe('org.springframework:spring-beans');
    expect(findings[0]?.package.path).toBe('usr/local/tomcat/webapps/helloworld.war/WEB-INF/lib/spring-beans-5.3.15.jar');
  });

  it('maps legacy OS findings to deb', () => {
    const { findings, image } = parse('dd-legacy-list-format-many.json');

    expect(image.imageId).toBeUndefined();
    expect(findings.every((finding) => finding.layer?.diffId !== undefined)).toBe(true);
    expect(findings[0]?.package.type).toBe('deb');
  });

  it('rejects a vulnerability without id', () => {
    const document = readFixture<{ Results: Array<{ Vulnerabilities: Array<Record<string, unknown>> }> }>('reports/trivy/trivy-golden-alpine-310.json');
    delete document.Results[0]!.Vulnerabilities[1]!.VulnerabilityID;

    expect(() => trivyImporter.parse(document)).toThrow(InvalidInputError);
    expect(() => trivyImporter.parse(document)).toThrow(/Results\[0\]\.Vulnerabilities\[1\]\.VulnerabilityID/);
  });

  it('rejects a malformed layer digest', () => {
    const document = readFixture<{ Results: Array<{ Vulnerabilities: Array<{ Layer: { DiffID: string } }> }> }>('reports/trivy/trivy-golden-alpine-310.json');
    document.Results[0]!.Vulnerabilities[0]!.Layer.DiffID = 'sha256:1234';

    expect(() => trivyImporter.parse(document)).toThrow(/Layer\.DiffID.*"sha256:1234"/);
  });
});
