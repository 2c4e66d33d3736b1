import { describe, expect, it } from 'vitest';

import { readFixture } from '../../../../../test/support/fixtures.ts';
import { InvalidInputError } from '../../errors.ts';
import { isCycloneDxVex, parseCycloneDxVex } from './cyclonedx.ts';
import { parseVexDocument } from './index.ts';

// Tests edit copies of the fixtures, so they are loaded as untyped JSON values.
type Json = any;

const CISA_CASE_1 = 'vex/vex-cyclonedx/cdx-bom-examples-cisa-case1-not-affected.json';
const GUAC_BOM_LINK = 'vex/vex-cyclonedx/guac-cdx14-vex-log4shell-affected-versions.json';

const JACKSON = 'pkg:maven/com.fasterxml.jackson.core/jackson-databind';
const IMAGE_PURL = 'pkg:oci/nginx@sha256%3Ab0f7830b6bfaa1258f45d94c240ab668ced1b3651c8a222aefe6683447c7bf55?repository_url=docker.io%2Flibrary%2Fnginx';
const ZLIB = 'pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?arch=amd64&distro=debian-12';
const SERIAL = '3e671687-395b-41f5-a30f-a58921a69b79';

/** Builds a container-image BOM in the shape Trivy writes, with one vulnerability. */
function imageBom(vulnerability: Json, extra: Json = {}): Json {
  return {
    bomFormat: 'CycloneDX',
    specVersion: '1.5',
    serialNumber: `urn:uuid:${SERIAL}`,
    version: 2,
    metadata: {
      timestamp: '2024-05-01T10:00:00Z',
      authors: [{ name: 'Platform Security' }],
      component: { 'bom-ref': IMAGE_PURL, type: 'container', name: 'nginx', purl: IMAGE_PURL },
    },
    components: [
      { 'bom-ref': 'os-debian', type: 'operating-system', name: 'debian', version: '12.5' },
      { 'bom-ref': ZLIB, type: 'library', name: 'zlib1g', version: '1:1.2.13.dfsg-1', purl: ZLIB },
      { 'bom-ref': 'tool', type: 'application', name: 'build-tool', purl: 'pkg:generic/build-tool@2.0' },
    ],
    dependencies: [
      { ref: IMAGE_PURL, dependsOn: ['os-debian'] },
      { ref: 'os-debian', dependsOn: [ZLIB] },
    ],
    vulnerabilities: [{ id: 'CVE-2023-45853', analysis: { state: 'not_affected', justification: 'code_not_reachable' }, affects: [{ ref: ZLIB }], ...vulnerability }],
    ...extra,
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

const parseImage = (vulnerability: Json, extra?: Json) => parseCycloneDxVex(imageBom(vulnerability, extra));

describe('CycloneDX VEX parser', () => {
  it.each([CISA_CASE_1, GUAC_BOM_LINK])('detects %s', (path) => {
    expect(isCycloneDxVex(readFixture(path))).toBe(true);
    expect(parseVexDocument(readFixture(path)).format).toBe('CYCLONEDX');
  });

  it.each([
    ['an SBOM without vulnerabilities', { bomFormat: 'CycloneDX', components: [] }],
    ['vulnerabilities without analysis', { bomFormat: 'CycloneDX', vulnerabilities: [{ id: 'CVE-2024-0001' }] }],
    ['an OpenVEX document', { '@context': 'https://openvex.dev/ns/v0.2.0' }],
    ['null', null],
  ])('does not detect %s', (_label, document) => {
    expect(isCycloneDxVex(document)).toBe(false);
  });

  it('reads CISA case 1 statement', () => {
    const statement = parseCycloneDxVex(readFixture(CISA_CASE_1)).statements[0]!;

    expect(statement.vulnerabilityId).toBe('CVE-2021-44228');
    expect(statement.status).toBe('NOT_AFFECTED');
    expect(statement.justification).toBe('vulnerable_code_not_present');
    expect(statement.originalJustification).toBe('code_not_present');
    expect(statement.impactStatement).toBe(
      'This version of Product ABC is not affected by the vulnerability. Class with vulnerable code was removed before shipping.',
    );
    expect(statement.actionStatement).toBe('response: will_not_fix');
  });

  it('resolves CISA case 1 product', () => {
    const document = parseCycloneDxVex(readFixture(CISA_CASE_1));

    expect(document.statements).toHaveLength(1);
    expect(document.statements[0]?.products).toEqual([{ id: 'product-ABC', name: 'ABC 4.2', subcomponents: [] }]);
    expect(document.timestamp).toBe('2022-03-03T00:00:00Z');
    expect(document.version).toBe('1');
  });

  it('names a BOM without serial number', () => {
    const documentId = parseCycloneDxVex(readFixture(CISA_CASE_1)).documentId;

    expect(documentId).toMatch(/^sha256:[a-f0-9]{64}\/1$/);
    expect(parseCycloneDxVex(readFixture(CISA_CASE_1)).documentId).toBe(documentId);
  });

  it('reads guac exploitable statement', () => {
    const statement = parseCycloneDxVex(readFixture(GUAC_BOM_LINK)).statements[0]!;

    expect(statement.status).toBe('AFFECTED');
    expect(statement.actionStatement).toBe(
      'Versions of Product ABC are affected by the vulnerability. Customers are advised to upgrade to the latest release.\nresponse: will_not_fix, update',
    );
    expect(statement.impactStatement).toBeUndefined();
  });

  it('resolves guac BOM-link to purls', () => {
    const products = parseCycloneDxVex(readFixture(GUAC_BOM_LINK)).statements[0]!.products;

    expect(products.map((product) => product.purl)).toEqual([`${JACKSON}@2.4`, `${JACKSON}@2.6`]);
    expect(products.every((product) => product.subcomponents.length === 0)).toBe(true);
  });

  it('keeps versionless purl without versions', () => {
    const document: Json = readFixture(GUAC_BOM_LINK);
    delete document.vulnerabilities[0].affects[0].versions;
    const products = parseCycloneDxVex(document).statements[0]!.products;

    expect(products).toEqual([{ id: document.vulnerabilities[0].affects[0].ref, purl: JACKSON, subcomponents: [] }]);
  });

  it('keeps versionless purl for ranges', () => {
    const document: Json = readFixture(GUAC_BOM_LINK);
    document.vulnerabilities[0].affects[0].versions = [{ range: 'vers:maven/>=2.0|<2.9', status: 'affected' }];

    expect(parseCycloneDxVex(document).statements[0]!.products.map((product) => product.purl)).toEqual([JACKSON]);
  });

  it('skips versions with contrary status', () => {
    const document: Json = readFixture(GUAC_BOM_LINK);
    document.vulnerabilities[0].affects[0].versions.push({ version: '2.17', status: 'unaffected' });

    expect(parseCycloneDxVex(document).statements[0]!.products.map((product) => product.purl)).toEqual([`${JACKSON}@2.4`, `${JACKSON}@2.6`]);
  });

  it('accepts a single response string', () => {
    const document: Json = readFixture(GUAC_BOM_LINK);
    document.vulnerabilities[0].analysis.response = 'update';

    expect(parseCycloneDxVex(document).statements[0]!.actionStatement).toMatch(/\nresponse: update$/);
  });

  it.each([
    ['code_not_present', 'vulnerable_code_not_present'],
    ['code_not_reachable', 'vulnerable_code_not_in_execute_path'],
    ['requires_configuration', 'vulnerable_code_cannot_be_controlled_by_adversary'],
    ['requires_dependency', 'vulnerable_code_cannot_be_controlled_by_adversary'],
    ['requires_environment', 'vulnerable_code_cannot_be_controlled_by_adversary'],
    ['protected_by_compiler', 'inline_mitigations_already_exist'],
    ['protected_at_runtime', 'inline_mitigations_already_exist'],
    ['protected_at_perimeter', 'inline_mitigations_already_exist'],
    ['protected_by_mitigating_control', 'inline_mitigations_already_exist'],
  ])('maps justification %s', (original, label) => {
    const statement = parseImage({ analysis: { state: 'not_affected', justification: original } }).statements[0]!;

    expect(statement.justification).toBe(label);
    expect(statement.originalJustification).toBe(original);
  });

  it.each([
    ['resolved', 'FIXED'],
    ['resolved_with_pedigree', 'FIXED'],
    ['exploitable', 'AFFECTED'],
    ['in_triage', 'UNDER_INVESTIGATION'],
    ['false_positive', 'NOT_AFFECTED'],
    ['not_affected', 'NOT_AFFECTED'],
  ])('maps state %s', (state, status) => {
    expect(parseImage({ analysis: { state } }).statements[0]!.status).toBe(status);
  });

  it('nests image packages under image', () => {
    const products = parseImage({}).statements[0]!.products;

    expect(products).toHaveLength(1);
    expect(products[0]?.purl).toBe(IMAGE_PURL);
    expect(products[0]?.subcomponents).toEqual([{ id: ZLIB, purl: ZLIB, name: 'zlib1g 1:1.2.13.dfsg-1' }]);
  });

  it('keeps unrelated components as products', () => {
    const products = parseImage({ affects: [{ ref: ZLIB }, { ref: 'tool' }] }).statements[0]!.products;

    expect(products.map((product) => product.purl)).toEqual([IMAGE_PURL, 'pkg:generic/build-tool@2.0']);
    expect(products[1]?.subcomponents).toEqual([]);
  });

  it('nests all components without dependencies', () => {
    const products = parseImage({ affects: [{ ref: 'tool' }] }, { dependencies: [] }).statements[0]!.products;

    expect(products.map((product) => product.purl)).toEqual([IMAGE_PURL]);
    expect(products[0]?.subcomponents.map((component) => component.purl)).toEqual(['pkg:generic/build-tool@2.0']);
  });

  it('resolves BOM-link into same BOM', () => {
    const ref = `urn:cdx:${SERIAL}/2#${encodeURIComponent(ZLIB)}`;
    const products = parseImage({ affects: [{ ref }] }).statements[0]!.products;

    expect(products[0]?.purl).toBe(IMAGE_PURL);
    expect(products[0]?.subcomponents).toEqual([{ id: ref, purl: ZLIB, name: 'zlib1g 1:1.2.13.dfsg-1' }]);
  });

  it('treats the image ref as product', () => {
    const products = parseImage({ affects: [{ ref: IMAGE_PURL }] }).statements[0]!.products;

    expect(products).toEqual([{ id: IMAGE_PURL, purl: IMAGE_PURL, name: 'nginx', subcomponents: [] }]);
  });

  it('reads image BOM metadata', () => {
    const document = parseImage({ references: [{ id: 'GHSA-xxxx-yyyy-zzzz' }], analysis: { state: 'in_triage', lastUpdated: '2024-05-02T00:00:00Z' } });

    expect(document.documentId).toBe(`urn:uuid:${SERIAL}/2`);
    expect(document.author).toBe('Platform Security');
    expect(document.timestamp).toBe('2024-05-01T10:00:00Z');
    expect(document.statements[0]?.aliases).toEqual(['GHSA-xxxx-yyyy-zzzz']);
    expect(document.statements[0]?.timestamp).toBe('2024-05-02T00:00:00Z');
  });

  it('falls back to vulnerability timestamps', () => {
    const statement = parseImage({ updated: '2024-04-01T00:00:00Z', published: '2024-03-01T00:00:00Z' }).statements[0]!;

    expect(statement.timestamp).toBe('2024-04-01T00:00:00Z');
  });

  it('falls back to the manufacturer author', () => {
    const bom = imageBom({});
    bom.metadata.authors = [];
    bom.metadata.manufacture = { name: 'Example Corp' };

    expect(parseCycloneDxVex(bom).author).toBe('Example Corp');
  });

  it('skips vulnerabilities without analysis', () => {
    const bom = imageBom({});
    bom.vulnerabilities.push({ id: 'CVE-2024-0002', affects: [{ ref: ZLIB }] });

    expect(parseCycloneDxVex(bom).statements.map((statement) => statement.vulnerabilityId)).toEqual(['CVE-2023-45853']);
  });

  it.each([
    ['wrong state', { analysis: { state: 'maybe' } }, 'vulnerabilities[0].analysis.state', '"maybe"'],
    ['missing vulnerability id', { id: undefined }, 'vulnerabilities[0].id', 'nothing'],
    ['wrong justification', { analysis: { state: 'not_affected', justification: 'not_vulnerable' } }, 'vulnerabilities[0].analysis.justification', '"not_vulnerable"'],
    ['missing affects', { affects: [] }, 'vulnerabilities[0].affects', '[]'],
    ['affects without ref', { affects: [{ versions: [] }] }, 'vulnerabilities[0].affects[0].ref', 'nothing'],
  ])('rejects %s', (_label, vulnerability, path, value) => {
    const error = catchError(() => parseImage(vulnerability));

    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as InvalidInputError).message).toContain(`CycloneDX VEX document at ${path}:`);
    expect((error as InvalidInputError).message).toContain(`found ${value}`);
    expect((error as InvalidInputError).details.path).toBe(path);
  });

  it('rejects a BOM without analysis', () => {
    const error = catchError(() => parseImage({ analysis: undefined }));

    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as InvalidInputError).details.path).toBe('vulnerabilities');
  });

  it('drops range-scoped not_affected refs', () => {
    const document = {
      bomFormat: 'CycloneDX',
      specVersion: '1.6',
      version: 1,
      vulnerabilities: [
        {
          id: 'CVE-2021-44228',
          analysis: { state: 'not_affected', justification: 'code_not_present' },
          affects: [{ ref: 'pkg:maven/org.apache.logging.log4j/log4j-core', versions: [{ range: 'vers:maven/>=2.0|<2.0-beta9', status: 'unaffected' }] }],
        },
        {
          id: 'CVE-2021-45046',
          analysis: { state: 'exploitable' },
          affects: [{ ref: 'pkg:maven/org.apache.logging.log4j/log4j-core', versions: [{ range: 'vers:maven/>=2.0|<2.16.0', status: 'affected' }] }],
        },
      ],
    };
    const parsed = parseCycloneDxVex(document);

    expect(parsed.statements.map((statement) => statement.vulnerabilityId)).toEqual(['CVE-2021-45046']);
    expect(parsed.statements[0]?.products[0]?.purl).toBe('pkg:maven/org.apache.logging.log4j/log4j-core');
  });
});
