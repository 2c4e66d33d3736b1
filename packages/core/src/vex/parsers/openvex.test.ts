import { describe, expect, it } from 'vitest';

import { readFixture } from '../../../../../test/support/fixtures.ts';
import { InvalidInputError, UnsupportedFormatError } from '../../errors.ts';
import type { VexStatement } from '../model.ts';
import { parseVexDocument } from './index.ts';
import { isOpenVex, parseOpenVex } from './openvex.ts';

// Tests edit copies of the fixtures, so they are loaded as untyped JSON values.
type Json = any;

const DHI_NGINX = 'vex/dhi/dhi-nginx.openvex.json';
const TRIVY = 'vex/vex-openvex/trivy-real-oci-image-openvex-v020.json';
const DEFECTDOJO = 'vex/vex-openvex/dd-openvex-v020-mixed-legacy-statements.json';

const DHI_DOCKER = 'pkg:docker/dhi/nginx';
const DHI_OCI = 'pkg:oci/dhi%2Fnginx';

const parse = (path: string) => parseOpenVex(readFixture(path));

function countStatuses(statements: VexStatement[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const statement of statements) counts[statement.status] = (counts[statement.status] ?? 0) + 1;
  return counts;
}

function productsWithId(statements: VexStatement[], id: string) {
  return statements.flatMap((statement) => statement.products.filter((product) => product.id === id));
}

/** Builds a one-statement OpenVEX 0.2.0 document around the given statement fields. */
function documentWith(statement: Json): Json {
  return {
    '@context': 'https://openvex.dev/ns/v0.2.0',
    '@id': 'https://example.com/vex/test-1',
    author: 'Test',
    timestamp: '2024-01-01T00:00:00Z',
    version: 1,
    statements: [{ vulnerability: { name: 'CVE-2024-0001' }, products: [{ '@id': 'pkg:apk/alpine/zlib' }], status: 'fixed', ...statement }],
  };
}

function catchError(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('OpenVEX parser', () => {
  it.each([DHI_NGINX, TRIVY, DEFECTDOJO])('detects %s', (path) => {
    expect(isOpenVex(readFixture(path))).toBe(true);
  });

  it.each([
    ['a CycloneDX BOM', { bomFormat: 'CycloneDX' }],
    ['another JSON-LD context', { '@context': 'https://example.com/ns' }],
    ['null', null],
    ['an array', []],
  ])('does not detect %s', (_label, document) => {
    expect(isOpenVex(document)).toBe(false);
  });

  it('reads DHI nginx metadata', () => {
    const document = parse(DHI_NGINX);

    expect(document.format).toBe('OPENVEX');
    expect(document.documentId).toBe('https://openvex.dev/docs/public/vex-e5512696834fb1c6271cd0c02f859d1dafa0c6e282aaf6ca2498ffcac71f5651');
    expect(document.author).toBe('Docker Hardened Images <dhi@docker.com>');
    expect(document.timestamp).toBe('2025-10-25T14:37:19.272Z');
    expect(document.version).toBe('1');
  });

  it('counts DHI nginx statuses', () => {
    const statements = parse(DHI_NGINX).statements;

    expect(statements).toHaveLength(55);
    expect(countStatuses(statements)).toEqual({ NOT_AFFECTED: 51, UNDER_INVESTIGATION: 4 });
  });

  it('reads both DHI image purls', () => {
    const statements = parse(DHI_NGINX).statements;

    expect(productsWithId(statements, DHI_DOCKER)).toHaveLength(55);
    expect(productsWithId(statements, DHI_OCI)).toHaveLength(55);
    expect(productsWithId(statements, DHI_OCI)[0]?.purl).toBe(DHI_OCI);
  });

  it('counts DHI nginx subcomponents', () => {
    const statements = parse(DHI_NGINX).statements;
    const all = statements.flatMap((statement) => statement.products.flatMap((product) => product.subcomponents));

    expect(all).toHaveLength(1448);
    expect(productsWithId(statements, DHI_DOCKER).flatMap((product) => product.subcomponents)).toHaveLength(724);
  });

  it('reads the first DHI statement', () => {
    const statement = parse(DHI_NGINX).statements[0]!;
    const image = statement.products.find((product) => product.id === DHI_DOCKER);

    expect(statement.id).toBe('f976057a-6373-4a4e-9243-57c7a2d0b2a2');
    expect(statement.vulnerabilityId).toBe('CVE-2025-62813');
    expect(statement.justification).toBe('vulnerable_code_cannot_be_controlled_by_adversary');
    expect(statement.timestamp).toBe('2025-10-25T14:37:19.272Z');
    expect(statement.products).toHaveLength(7);
    expect(image?.subcomponents).toContainEqual({
      id: 'pkg:deb/debian/lz4@1.9.4-1?os_distro=bookworm&os_name=debian&os_version=12',
      purl: 'pkg:deb/debian/lz4@1.9.4-1?os_distro=bookworm&os_name=debian&os_version=12',
    });
  });

  it('reads DHI under investigation statements', () => {
    const statements = parse(DHI_NGINX).statements.filter((statement) => statement.status === 'UNDER_INVESTIGATION');

    expect(statements.map((statement) => statement.vulnerabilityId)).toEqual(['CVE-2025-52099', 'CVE-2025-9232', 'CVE-2025-9230', 'CVE-2025-0928']);
    expect(statements.every((statement) => statement.justification === undefined)).toBe(true);
  });

  it('reads Trivy image statements', () => {
    const document = parse(TRIVY);

    expect(document.statements).toHaveLength(7);
    expect(countStatuses(document.statements)).toEqual({ NOT_AFFECTED: 7 });
    expect(document.statements.every((statement) => statement.justification === 'vulnerable_code_cannot_be_controlled_by_adversary')).toBe(true);
  });

  it('keeps Trivy products versionless', () => {
    const products = parse(TRIVY).statements.flatMap((statement) => statement.products);
    const ids = [...new Set(products.map((product) => product.purl))];

    expect(products).toHaveLength(21);
    expect(ids).toEqual([
      'pkg:oci/trivy?repository_url=index.docker.io%2Faquasec%2Ftrivy',
      'pkg:oci/trivy?repository_url=public.ecr.aws%2Faquasecurity%2Ftrivy',
      'pkg:oci/trivy?repository_url=ghcr.io/aquasecurity/trivy',
    ]);
    expect(ids.some((purl) => purl?.split('?')[0]?.includes('@'))).toBe(false);
  });

  it('reads Trivy subcomponents and impact', () => {
    const statement = parse(TRIVY).statements[0]!;

    expect(statement.vulnerabilityId).toBe('CVE-2023-42363');
    expect(statement.impactStatement).toBe('awk is not used');
    expect(statement.products[0]?.subcomponents.map((component) => component.purl)).toEqual([
      'pkg:apk/alpine/busybox',
      'pkg:apk/alpine/busybox-binsh',
      'pkg:apk/alpine/ssl_client',
    ]);
  });

  it('reads all four DefectDojo statuses', () => {
    const statuses = parse(DEFECTDOJO).statements.map((statement) => statement.status);

    expect(statuses).toEqual(['NOT_AFFECTED', 'AFFECTED', 'FIXED', 'UNDER_INVESTIGATION', 'NOT_AFFECTED', 'NOT_AFFECTED']);
  });

  it('reads DefectDojo texts and aliases', () => {
    const statements = parse(DEFECTDOJO).statements;

    expect(statements[1]?.actionStatement).toBe('No action statement provided');
    expect(statements[4]?.aliases).toEqual(['GHSA-jfh8-c2jp-5v3q']);
    expect(statements[4]?.impactStatement).toBe('The affected code path is disabled at build time.');
    expect(statements[0]?.timestamp).toBe('2026-07-29T00:00:00Z');
  });

  it('reads the legacy DefectDojo statement', () => {
    const legacy = parse(DEFECTDOJO).statements[5];

    expect(legacy).toEqual({
      vulnerabilityId: 'CVE-2024-10006',
      aliases: [],
      products: [{ id: 'pkg:apk/alpine/openssl@1.1.1k-r0', purl: 'pkg:apk/alpine/openssl@1.1.1k-r0', subcomponents: [] }],
      status: 'NOT_AFFECTED',
      justification: 'component_not_present',
      timestamp: '2026-07-29T00:00:00Z',
    });
  });

  it('applies legacy subcomponents to every product', () => {
    const document = documentWith({ products: ['pkg:oci/app-a', 'pkg:oci/app-b'], subcomponents: ['pkg:npm/lodash@4.17.20'] });
    const products = parseOpenVex(document).statements[0]!.products;

    expect(products.map((product) => product.subcomponents.map((component) => component.purl))).toEqual([
      ['pkg:npm/lodash@4.17.20'],
      ['pkg:npm/lodash@4.17.20'],
    ]);
  });

  it('reads product identifiers', () => {
    const document = documentWith({
      products: [{ '@id': 'https://example.com/app', identifiers: { purl: 'pkg:oci/app', cpe23: 'cpe:2.3:a:example:app:1.0:*:*:*:*:*:*:*' } }],
    });

    expect(parseOpenVex(document).statements[0]!.products[0]).toEqual({
      id: 'https://example.com/app',
      purl: 'pkg:oci/app',
      cpe: 'cpe:2.3:a:example:app:1.0:*:*:*:*:*:*:*',
      subcomponents: [],
    });
  });

  it('accepts affected without action statement', () => {
    const statement = parseOpenVex(documentWith({ status: 'affected' })).statements[0]!;

    expect(statement.status).toBe('AFFECTED');
    expect(statement.actionStatement).toBeUndefined();
  });

  it('prefers last_updated for timestamps', () => {
    const document = { ...documentWith({ last_updated: '2024-03-01T00:00:00Z' }), last_updated: '2024-02-01T00:00:00Z' };
    const parsed = parseOpenVex(document);

    expect(parsed.timestamp).toBe('2024-02-01T00:00:00Z');
    expect(parsed.statements[0]?.timestamp).toBe('2024-03-01T00:00:00Z');
  });

  it.each([
    ['wrong status', { status: 'maybe' }, 'statements[0].status', '"maybe"'],
    ['missing vulnerability name', { vulnerability: { aliases: ['GHSA-xxxx'] } }, 'statements[0].vulnerability.name', 'nothing'],
    ['not_affected without reason', { status: 'not_affected' }, 'statements[0].justification', 'nothing'],
    ['wrong justification', { status: 'not_affected', justification: 'not_vulnerable' }, 'statements[0].justification', '"not_vulnerable"'],
    ['empty products', { products: [] }, 'statements[0].products', '[]'],
    ['product without id', { products: [{ identifiers: {} }] }, 'statements[0].products[0].@id', 'nothing'],
  ])('rejects %s', (_label, statement, path, value) => {
    const error = catchError(() => parseOpenVex(documentWith(statement)));

    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as InvalidInputError).message).toContain(`OpenVEX document at ${path}:`);
    expect((error as InvalidInputError).message).toContain(`found ${value}`);
    expect((error as InvalidInputError).details.path).toBe(path);
  });

  it('rejects a document without @id', () => {
    const document = documentWith({});
    delete document['@id'];
    const error = catchError(() => parseOpenVex(document));

    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as InvalidInputError).details.path).toBe('@id');
  });
});

describe('parseVexDocument', () => {
  it('detects OpenVEX', () => {
    expect(parseVexDocument(readFixture(TRIVY)).format).toBe('OPENVEX');
  });

  it.each([
    ['an SPDX document', { spdxVersion: 'SPDX-2.3' }],
    ['a CycloneDX SBOM', { bomFormat: 'CycloneDX', vulnerabilities: [{ id: 'CVE-2024-0001' }] }],
    ['a CSAF informational advisory', { document: { category: 'csaf_informational_advisory' } }],
    ['null', null],
  ])('rejects %s as unsupported', (_label, document) => {
    const error = catchError(() => parseVexDocument(document));

    expect(error).toBeInstanceOf(UnsupportedFormatError);
    expect((error as Error).message).toContain('OpenVEX');
    expect((error as Error).message).toContain('CycloneDX VEX');
    expect((error as Error).message).toContain('CSAF VEX');
  });

  it('uses an explicit format', () => {
    const error = catchError(() => parseVexDocument(readFixture(TRIVY), 'CSAF'));

    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as InvalidInputError).message).toContain('Invalid CSAF document at document');
  });
});
