import { describe, expect, it } from 'vitest';

import type { Finding } from '../finding.ts';
import type { Image } from '../image/model.ts';
import { normalizeRepository, parseImageIdentifier } from './image-identifier.ts';
import { VexIndex, type StoredStatement, type VexSource } from './matcher.ts';
import type { VexProduct, VexStatus } from './model.ts';
import { purlCovers } from './package-match.ts';

const APP_DIGEST = `sha256:${'a'.repeat(64)}`;
const APP_CONFIG = `sha256:${'c'.repeat(64)}`;
const BASE_DIGEST = `sha256:${'b'.repeat(64)}`;

const image: Image = {
  key: APP_DIGEST,
  digest: APP_DIGEST,
  imageId: APP_CONFIG,
  repository: '123456789012.dkr.ecr.us-east-1.amazonaws.com/shop/web',
  tags: ['1.4.2'],
  layers: [
    { index: 0, origin: 'BASE' },
    { index: 1, origin: 'APPLICATION' },
  ],
  labels: {},
  annotations: {},
  baseImage: { name: 'dhi/nginx:1.29', digest: BASE_DIGEST, hardened: true, method: 'LAYER_PREFIX', confidence: 'HIGH', layerCount: 1, evidence: 'test' },
  createdAt: '2026-01-01T00:00:00Z',
  updatedAt: '2026-01-01T00:00:00Z',
};

function finding(origin: 'BASE' | 'APPLICATION', overrides: Partial<Finding> = {}): Finding {
  return {
    id: `f-${origin}`,
    imageKey: APP_DIGEST,
    scanId: 's',
    vulnerabilityId: 'CVE-2025-0001',
    aliases: [],
    severity: 'HIGH',
    package: { name: 'libssl3', version: '3.0.11-1', type: 'deb', purl: 'pkg:deb/debian/libssl3@3.0.11-1?arch=amd64&distro=debian-12' },
    layerIndex: origin === 'BASE' ? 0 : 1,
    origin,
    ...overrides,
  };
}

function statement(products: VexProduct[], overrides: Partial<StoredStatement> = {}): StoredStatement {
  return {
    vulnerabilityId: 'CVE-2025-0001',
    aliases: [],
    products,
    status: 'NOT_AFFECTED' as VexStatus,
    justification: 'vulnerable_code_not_in_execute_path',
    documentKey: 'doc1',
    documentId: 'https://vendor.example/vex/1',
    author: 'Vendor',
    source: 'VENDOR' as VexSource,
    importedAt: '2026-02-01T00:00:00Z',
    index: 0,
    ...overrides,
  };
}

const product = (id: string, subcomponents: string[] = []): VexProduct => ({
  id,
  purl: id.startsWith('pkg:') ? id : undefined,
  subcomponents: subcomponents.map((sub) => ({ id: sub, purl: sub })),
});

describe('image identifiers', () => {
  it.each([
    ['pkg:oci/web@sha256%3A' + 'a'.repeat(64) + '?repository_url=123456789012.dkr.ecr.us-east-1.amazonaws.com/shop/web', { repository: '123456789012.dkr.ecr.us-east-1.amazonaws.com/shop/web', digest: APP_DIGEST }],
    ['pkg:oci/dhi%2Fnginx', { repository: 'docker.io/dhi/nginx' }],
    ['pkg:oci/trivy?repository_url=index.docker.io%2Faquasec%2Ftrivy', { repository: 'docker.io/aquasec/trivy' }],
    ['pkg:docker/dhi/nginx', { repository: 'docker.io/dhi/nginx' }],
    ['pkg:docker/library/nginx@1.25', { repository: 'docker.io/library/nginx', tag: '1.25' }],
    ['nginx@' + BASE_DIGEST, { repository: 'docker.io/library/nginx', digest: BASE_DIGEST }],
    ['nginx', undefined],
    ['docker.io/library/nginx@' + BASE_DIGEST, { repository: 'docker.io/library/nginx', digest: BASE_DIGEST }],
    [BASE_DIGEST, { digest: BASE_DIGEST }],
    ['pkg:deb/debian/libssl3@3.0.11-1', undefined],
    ['cpe:/o:redhat:enterprise_linux:8', undefined],
    ['Example Company ABC 4.2', undefined],
  ])('parses %s', (id, expected) => {
    const parsed = parseImageIdentifier(id);

    if (expected === undefined) expect(parsed).toBeUndefined();
    else expect(parsed).toMatchObject(expected);
  });

  it.each([
    ['nginx', 'docker.io/library/nginx'],
    ['index.docker.io/library/nginx', 'docker.io/library/nginx'],
    ['registry-1.docker.io/dhi/nginx', 'docker.io/dhi/nginx'],
    ['https://ghcr.io/aquasecurity/trivy/', 'ghcr.io/aquasecurity/trivy'],
    ['localhost:5000/team/app', 'localhost:5000/team/app'],
  ])('normalizes repository %s', (input, expected) => {
    expect(normalizeRepository(input)).toBe(expected);
  });
});

describe('package purl coverage', () => {
  it.each([
    ['versionless covers every version', 'pkg:deb/debian/libssl3', 'pkg:deb/debian/libssl3@3.0.11-1?arch=amd64', true],
    ['same version covers', 'pkg:deb/debian/libssl3@3.0.11-1', 'pkg:deb/debian/libssl3@3.0.11-1?arch=amd64', true],
    ['other version does not', 'pkg:deb/debian/libssl3@3.0.9-1', 'pkg:deb/debian/libssl3@3.0.11-1', false],
    ['statement qualifier must be present', 'pkg:deb/debian/libssl3?arch=arm64', 'pkg:deb/debian/libssl3@3.0.11-1?arch=amd64', false],
    ['statement qualifier missing on package', 'pkg:deb/debian/libssl3?os_distro=bookworm', 'pkg:deb/debian/libssl3@3.0.11-1?arch=amd64', false],
    ['extra package qualifiers ignored', 'pkg:deb/debian/libssl3?arch=amd64', 'pkg:deb/debian/libssl3@3.0.11-1?arch=amd64&distro=debian-12', true],
    ['other namespace does not', 'pkg:deb/ubuntu/libssl3', 'pkg:deb/debian/libssl3@3.0.11-1', false],
    ['other type does not', 'pkg:rpm/debian/libssl3', 'pkg:deb/debian/libssl3@3.0.11-1', false],
    ['pypi names are normalized', 'pkg:pypi/Django_Rest', 'pkg:pypi/django-rest@3.1', true],
    ['percent-encoded npm scope', 'pkg:npm/%40babel/core', 'pkg:npm/@babel/core@7.0.0', true],
    ['not a purl', 'libssl3', 'pkg:deb/debian/libssl3@3.0.11-1', false],
  ])('%s', (_name, statementPurl, packagePurl, expected) => {
    expect(purlCovers(statementPurl, packagePurl)).toBe(expected);
  });
});

describe('VEX matching', () => {
  const evaluate = (statements: StoredStatement[], target: Finding) => new VexIndex(statements).evaluate(image, target);

  it.each<[string, StoredStatement, Finding, string | undefined]>([
    ['base image by versionless docker purl, base layer', statement([product('pkg:docker/dhi/nginx', ['pkg:deb/debian/libssl3'])]), finding('BASE'), 'BASE_IMAGE'],
    ['base image never in application layer', statement([product('pkg:docker/dhi/nginx', ['pkg:deb/debian/libssl3'])]), finding('APPLICATION'), undefined],
    ['base image by percent-encoded oci purl', statement([product('pkg:oci/dhi%2Fnginx', ['pkg:deb/debian/libssl3'])]), finding('BASE'), 'BASE_IMAGE'],
    ['base image by digest', statement([product(BASE_DIGEST, ['pkg:deb/debian/libssl3'])]), finding('BASE'), 'BASE_IMAGE'],
    ['base image of another tag', statement([product('pkg:docker/dhi/nginx@1.27', ['pkg:deb/debian/libssl3'])]), finding('BASE'), undefined],
    ['base image with matching tag', statement([product('pkg:docker/dhi/nginx@1.29', ['pkg:deb/debian/libssl3'])]), finding('BASE'), 'BASE_IMAGE'],
    ['own image by oci purl and digest', statement([product(`pkg:oci/web@${encodeURIComponent(APP_DIGEST)}?repository_url=123456789012.dkr.ecr.us-east-1.amazonaws.com/shop/web`)]), finding('APPLICATION'), 'IMAGE'],
    ['own image by image ID', statement([product(APP_CONFIG)]), finding('APPLICATION'), 'IMAGE'],
    ['own image by repository, all versions', statement([product('123456789012.dkr.ecr.us-east-1.amazonaws.com/shop/web:1.4.2')]), finding('APPLICATION'), 'IMAGE'],
    ['another digest', statement([product(`sha256:${'d'.repeat(64)}`)]), finding('BASE'), undefined],
    ['another repository with the same name', statement([product('pkg:docker/other/web')]), finding('BASE'), undefined],
    ['subcomponent of another package', statement([product('pkg:docker/dhi/nginx', ['pkg:deb/debian/zlib1g'])]), finding('BASE'), undefined],
    ['whole product without subcomponents', statement([product(APP_DIGEST)]), finding('APPLICATION'), 'IMAGE'],
    ['vendor package statement with version, base layer', statement([product('pkg:deb/debian/libssl3@3.0.11-1')]), finding('BASE'), 'PACKAGE'],
    ['vendor versionless package statement', statement([product('pkg:deb/debian/libssl3')]), finding('BASE'), undefined],
    ['vendor package statement, application layer', statement([product('pkg:deb/debian/libssl3@3.0.11-1')]), finding('APPLICATION'), undefined],
    ['own package statement, application layer', statement([product('pkg:deb/debian/libssl3')], { source: 'OWN' }), finding('APPLICATION'), 'PACKAGE'],
    ['platform with package subcomponent', statement([{ id: 'cpe:/o:debian:debian_linux:12', cpe: 'cpe:/o:debian:debian_linux:12', subcomponents: [{ id: 'x', purl: 'pkg:deb/debian/libssl3@3.0.11-1' }] }]), finding('BASE'), 'PACKAGE'],
    ['unknown origin is not base', statement([product('pkg:docker/dhi/nginx', ['pkg:deb/debian/libssl3'])]), finding('BASE', { origin: 'UNKNOWN' }), undefined],
    ['vulnerability by alias on the finding', statement([product(APP_DIGEST)], { vulnerabilityId: 'GHSA-xxxx-yyyy-zzzz' }), finding('APPLICATION', { aliases: ['GHSA-XXXX-YYYY-ZZZZ'] }), 'IMAGE'],
    ['vulnerability by alias on the statement', statement([product(APP_DIGEST)], { vulnerabilityId: 'DSA-5000-1', aliases: ['CVE-2025-0001'] }), finding('APPLICATION'), 'IMAGE'],
    ['another vulnerability', statement([product(APP_DIGEST)], { vulnerabilityId: 'CVE-2025-9999' }), finding('APPLICATION'), undefined],
    ['finding without purl and subcomponents', statement([product(APP_DIGEST, ['pkg:deb/debian/libssl3'])]), finding('BASE', { package: { name: 'libssl3', version: '3', type: 'deb' } }), undefined],
  ])('%s', (_name, vexStatement, target, expected) => {
    expect(evaluate([vexStatement], target)?.matchedBy).toBe(expected);
  });

  it('takes the latest statement', () => {
    const older = statement([product(APP_DIGEST)], { status: 'AFFECTED', timestamp: '2026-01-01T00:00:00Z', index: 0 });
    const newer = statement([product(APP_DIGEST)], { status: 'NOT_AFFECTED', timestamp: '2026-03-01T00:00:00Z', index: 1 });
    const result = evaluate([newer, older], finding('APPLICATION'));

    expect(result?.status).toBe('NOT_AFFECTED');
    expect(result?.statementIndex).toBe(1);
  });

  it('falls back to the document timestamp', () => {
    const older = statement([product(APP_DIGEST)], { status: 'NOT_AFFECTED', documentTimestamp: '2026-01-01T00:00:00Z', documentKey: 'a' });
    const newer = statement([product(APP_DIGEST)], { status: 'AFFECTED', documentTimestamp: '2026-02-01T00:00:00Z', documentKey: 'b' });

    expect(evaluate([older, newer], finding('APPLICATION'))?.status).toBe('AFFECTED');
  });

  it('explains the decision', () => {
    const result = evaluate([statement([product('pkg:docker/dhi/nginx', ['pkg:deb/debian/libssl3'])])], finding('BASE'));

    expect(result?.reason).toBe(
      "Vendor states that the base image pkg:docker/dhi/nginx is not affected by CVE-2025-0001 (vulnerable code not in execute path), in document https://vendor.example/vex/1. It applies because the package is in the base image's layers.",
    );
  });
});
