import { describe, expect, it } from 'vitest';

import { readFixture } from '../../../../../test/support/fixtures.ts';
import { InvalidInputError } from '../../errors.ts';
import type { VexStatement } from '../model.ts';
import { isCsafVex, parseCsafVex } from './csaf.ts';
import { parseVexDocument } from './index.ts';

// Tests edit copies of the fixtures, so they are loaded as untyped JSON values.
type Json = any;

const RHSA_OPENSSL = 'vex/vex-csaf/guac-redhat-rhsa-2023-1441-openssl-csaf-vex.json';
const OASIS_MINIMAL = 'vex/vex-csaf/oasis-csaf-vex-uc01-not-affected-log4shell.json';
const CRI_O_LARGE = 'vex/vex-csaf/trustify-redhat-cve-2024-5154-cri-o-large.json';

const RHEL_EUS_CPE = 'cpe:/o:redhat:rhel_eus:8.6::baseos';

function subcomponentsOf(statements: VexStatement[]) {
  return statements.flatMap((statement) => statement.products.flatMap((product) => product.subcomponents));
}

function withStatus(statements: VexStatement[], status: VexStatement['status']): VexStatement[] {
  return statements.filter((statement) => statement.status === status);
}

/** Builds a small CSAF VEX with one platform, two packages on it and one vulnerability. */
function smallCsaf(vulnerability: Json = {}): Json {
  return {
    document: {
      category: 'csaf_vex',
      csaf_version: '2.0',
      publisher: { category: 'vendor', name: 'Example PSIRT', namespace: 'https://example.com' },
      title: 'Test',
      tracking: { id: 'EX-2024-001', current_release_date: '2024-01-02T00:00:00Z', initial_release_date: '2024-01-01T00:00:00Z', version: '2', status: 'final' },
    },
    product_tree: {
      full_product_names: [
        { product_id: 'platform', name: 'Example OS 9', product_identification_helper: { cpe: 'cpe:/o:example:os:9' } },
        { product_id: 'zlib', name: 'zlib-1.2.13', product_identification_helper: { purl: 'pkg:rpm/example/zlib@1.2.13' } },
        { product_id: 'curl', name: 'curl-8.0', product_identification_helper: { purl: 'pkg:rpm/example/curl@8.0' } },
      ],
      relationships: [
        { category: 'default_component_of', product_reference: 'zlib', relates_to_product_reference: 'platform', full_product_name: { product_id: 'os:zlib', name: 'zlib on Example OS 9' } },
        { category: 'installed_on', product_reference: 'curl', relates_to_product_reference: 'platform', full_product_name: { product_id: 'os:curl', name: 'curl on Example OS 9' } },
      ],
      product_groups: [{ group_id: 'all-packages', product_ids: ['os:zlib', 'os:curl'] }],
    },
    vulnerabilities: [
      {
        cve: 'CVE-2024-0001',
        ids: [{ system_name: 'Example Tracker', text: 'EX-BUG-17' }],
        product_status: { known_not_affected: ['os:zlib', 'os:curl'] },
        flags: [{ label: 'vulnerable_code_not_in_execute_path', group_ids: ['all-packages'] }],
        ...vulnerability,
      },
    ],
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

describe('CSAF VEX parser', () => {
  it.each([RHSA_OPENSSL, OASIS_MINIMAL, CRI_O_LARGE])('detects %s', (path) => {
    expect(isCsafVex(readFixture(path))).toBe(true);
    expect(parseVexDocument(readFixture(path)).format).toBe('CSAF');
  });

  it('detects advisories with product status', () => {
    const advisory = smallCsaf();
    advisory.document.category = 'csaf_security_advisory';

    expect(isCsafVex(advisory)).toBe(true);
    expect(isCsafVex({ ...advisory, vulnerabilities: [{ cve: 'CVE-2024-0001' }] })).toBe(false);
  });

  it('reads RHSA-2023:1441 metadata', () => {
    const document = parseCsafVex(readFixture(RHSA_OPENSSL));

    expect(document.format).toBe('CSAF');
    expect(document.documentId).toBe('RHSA-2023:1441');
    expect(document.author).toBe('Red Hat Product Security');
    expect(document.timestamp).toBe('2023-03-23T11:14:00Z');
    expect(document.version).toBe('1');
  });

  it('splits RHSA-2023:1441 by status', () => {
    const statements = parseCsafVex(readFixture(RHSA_OPENSSL)).statements;

    expect(statements.map((statement) => statement.status)).toEqual(['AFFECTED', 'FIXED']);
    expect(statements.every((statement) => statement.vulnerabilityId === 'CVE-2023-0286')).toBe(true);
    expect(statements[0]?.aliases).toEqual(['https://bugzilla.redhat.com/show_bug.cgi?id=2164440']);
  });

  it('resolves RHSA affected relationship', () => {
    const affected = withStatus(parseCsafVex(readFixture(RHSA_OPENSSL)).statements, 'AFFECTED')[0]!;

    expect(affected.products).toEqual([
      {
        id: 'BaseOS-8.6.0.Z.EUS',
        cpe: RHEL_EUS_CPE,
        name: 'Red Hat Enterprise Linux BaseOS EUS (v.8.6)',
        subcomponents: [
          { id: 'openssl-1:1.1.1k-7.el8_6.x86_64', purl: 'pkg:rpm/redhat/openssl@1.1.1k-7.el8_6?arch=x86_64&epoch=1', name: 'openssl-1:1.1.1k-7.el8_6.x86_64' },
        ],
      },
    ]);
    expect(affected.actionStatement).toMatch(/^vendor_fix: For details on how to apply this update/);
    expect(affected.actionStatement).toContain('(https://access.redhat.com/errata/RHSA-2023:1441)');
  });

  it('resolves RHSA fixed relationships', () => {
    const fixed = withStatus(parseCsafVex(readFixture(RHSA_OPENSSL)).statements, 'FIXED')[0]!;
    const purls = fixed.products[0]?.subcomponents.flatMap((component) => (component.purl ? [component.purl] : []));

    expect(fixed.products).toHaveLength(1);
    expect(fixed.products[0]?.cpe).toBe(RHEL_EUS_CPE);
    expect(fixed.products[0]?.subcomponents).toHaveLength(35);
    expect(purls).toEqual([
      'pkg:rpm/redhat/openssl@1.1.1k-8.el8_6?arch=aarch64&epoch=1',
      'pkg:rpm/redhat/nginx@1.20.1-1.module%2Bel8.8.0%2B20359%2B9bd89172.1?arch=x86_64&epoch=1',
    ]);
  });

  it('ignores severity threats on fixed', () => {
    const statements = parseCsafVex(readFixture(RHSA_OPENSSL)).statements;

    expect(statements.every((statement) => statement.impactStatement === undefined)).toBe(true);
  });

  it('parses the 817 KB cri-o file quickly', () => {
    const document = readFixture(CRI_O_LARGE);

    const start = performance.now();
    const parsed = parseCsafVex(document);
    const elapsed = performance.now() - start;
    console.log(`parsed CVE-2024-5154 CSAF (817 KB, ${parsed.statements.length} statements) in ${elapsed.toFixed(1)} ms`);

    expect(elapsed).toBeLessThan(1000);
  });

  it('resolves all cri-o purls', () => {
    const subcomponents = subcomponentsOf(parseCsafVex(readFixture(CRI_O_LARGE)).statements);

    expect(subcomponents).toHaveLength(621);
    expect(subcomponents.filter((component) => component.purl?.startsWith('pkg:rpm/redhat/'))).toHaveLength(621);
    expect(new Set(subcomponents.map((component) => component.purl)).size).toBe(421);
  });

  it('maps cri-o not affected products', () => {
    const notAffected = withStatus(parseCsafVex(readFixture(CRI_O_LARGE)).statements, 'NOT_AFFECTED');

    expect(notAffected).toHaveLength(1);
    expect(subcomponentsOf(notAffected)).toHaveLength(555);
    expect(notAffected[0]?.justification).toBe('vulnerable_code_not_present');
    expect(notAffected[0]?.products.map((product) => product.cpe)).toEqual([
      'cpe:/a:redhat:openshift:4.12::el8',
      'cpe:/a:redhat:openshift:4.14::el8',
      'cpe:/a:redhat:openshift:4.14::el9',
      'cpe:/a:redhat:openshift:4.15::el9',
    ]);
  });

  it('splits cri-o fixes by remediation', () => {
    const statements = parseCsafVex(readFixture(CRI_O_LARGE)).statements;
    const fixed = withStatus(statements, 'FIXED');

    expect(statements).toHaveLength(5);
    expect(fixed.map((statement) => subcomponentsOf([statement]).length)).toEqual([13, 26, 26]);
    expect(fixed.map((statement) => statement.actionStatement?.match(/errata\/(RHSA-\d+:\d+)/)?.[1])).toEqual(['RHSA-2024:4008', 'RHSA-2024:3700', 'RHSA-2024:3676']);
  });

  it('reads cri-o affected product', () => {
    const affected = withStatus(parseCsafVex(readFixture(CRI_O_LARGE)).statements, 'AFFECTED')[0]!;

    expect(affected.products[0]?.cpe).toBe('cpe:/a:redhat:openshift:3.11');
    expect(affected.products[0]?.subcomponents).toEqual([{ id: 'cri-o', purl: 'pkg:rpm/redhat/cri-o?arch=src', name: 'cri-o' }]);
    expect(affected.actionStatement).toContain('no_fix_planned: Out of support scope');
  });

  it('reads the OASIS minimal example', () => {
    const document = parseCsafVex(readFixture(OASIS_MINIMAL));

    expect(document.documentId).toBe('2022-EVD-UC-01-NA-001');
    expect(document.author).toBe('Example Company ProductCERT');
    expect(document.statements).toEqual([
      {
        vulnerabilityId: 'CVE-2021-44228',
        aliases: [],
        products: [{ id: 'CSAFPID-0001', name: 'Example Company ABC 4.2', subcomponents: [] }],
        status: 'NOT_AFFECTED',
        impactStatement: 'Class with vulnerable code was removed before shipping.',
      },
    ]);
  });

  it('resolves flags through product groups', () => {
    const statement = parseCsafVex(smallCsaf()).statements[0]!;

    expect(statement.justification).toBe('vulnerable_code_not_in_execute_path');
    expect(statement.aliases).toEqual(['EX-BUG-17']);
    expect(statement.products).toHaveLength(1);
    expect(statement.products[0]?.subcomponents.map((component) => component.purl)).toEqual(['pkg:rpm/example/zlib@1.2.13', 'pkg:rpm/example/curl@8.0']);
  });

  it('keeps plain products without subcomponents', () => {
    const statement = parseCsafVex(smallCsaf({ product_status: { fixed: ['zlib'] }, flags: [] })).statements[0]!;

    expect(statement.status).toBe('FIXED');
    expect(statement.products).toEqual([{ id: 'zlib', purl: 'pkg:rpm/example/zlib@1.2.13', name: 'zlib-1.2.13', subcomponents: [] }]);
  });

  it('merges equivalent status lists', () => {
    const statements = parseCsafVex(smallCsaf({ product_status: { known_affected: ['os:zlib'], first_affected: ['os:zlib', 'os:curl'] } })).statements;

    expect(statements).toHaveLength(1);
    expect(subcomponentsOf(statements).map((component) => component.id)).toEqual(['zlib', 'curl']);
  });

  it('splits products by justification', () => {
    const flags = [
      { label: 'vulnerable_code_not_present', product_ids: ['os:zlib'] },
      { label: 'component_not_present', product_ids: ['os:curl'] },
    ];
    const statements = parseCsafVex(smallCsaf({ flags })).statements;

    expect(statements.map((statement) => statement.justification)).toEqual(['vulnerable_code_not_present', 'component_not_present']);
  });

  it('uses the first id without cve', () => {
    const statement = parseCsafVex(smallCsaf({ cve: undefined })).statements[0]!;

    expect(statement.vulnerabilityId).toBe('EX-BUG-17');
    expect(statement.aliases).toEqual([]);
  });

  it.each([
    ['wrong status list', { product_status: { known_unaffected: ['os:zlib'] } }, 'vulnerabilities[0].product_status', 'known_unaffected'],
    ['wrong flag label', { flags: [{ label: 'not_vulnerable', product_ids: ['os:zlib'] }] }, 'vulnerabilities[0].flags[0].label', '"not_vulnerable"'],
    ['missing vulnerability id', { cve: undefined, ids: [] }, 'vulnerabilities[0].cve', 'nothing'],
    ['not affected without reason', { flags: [] }, 'vulnerabilities[0].product_status.known_not_affected[0]', '"os:zlib"'],
    ['undefined product id', { product_status: { fixed: ['os:openssl'] } }, 'vulnerabilities[0].product_status.fixed[0]', '"os:openssl"'],
  ])('rejects %s', (_label, vulnerability, path, value) => {
    const error = catchError(() => parseCsafVex(smallCsaf(vulnerability)));

    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as InvalidInputError).message).toContain(`CSAF document at ${path}:`);
    expect((error as InvalidInputError).message).toContain(value);
    expect((error as InvalidInputError).details.path).toBe(path);
  });

  it('rejects a document without tracking id', () => {
    const document = smallCsaf();
    delete document.document.tracking.id;
    const error = catchError(() => parseCsafVex(document));

    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as InvalidInputError).details.path).toBe('document.tracking.id');
  });

  it('leaves range products without purl', () => {
    const product = (id: string, category: string, name: string) => ({
      category: 'vendor',
      name: 'Example',
      branches: [{ category, name, product: { product_id: id, name: `example-lib ${name}`, product_identification_helper: { purl: 'pkg:npm/example-lib' } } }],
    });
    const parsed = parseCsafVex({
      document: { category: 'csaf_vex', csaf_version: '2.0', title: 't', publisher: { category: 'vendor', name: 'Example', namespace: 'https://example.com' }, tracking: { id: 'EX-1', version: '1', current_release_date: '2026-01-01T00:00:00Z', initial_release_date: '2026-01-01T00:00:00Z', revision_history: [], status: 'final' } },
      product_tree: { branches: [product('RANGE', 'product_version_range', 'vers:npm/<2.0.0'), product('EXACT', 'product_version', '2.1.0')] },
      vulnerabilities: [{ cve: 'CVE-2026-0001', product_status: { known_not_affected: ['RANGE', 'EXACT'] }, flags: [{ label: 'vulnerable_code_not_present', product_ids: ['RANGE', 'EXACT'] }] }],
    });
    const products = parsed.statements[0]!.products;

    expect(products.find((item) => item.id === 'RANGE')?.purl).toBeUndefined();
    expect(products.find((item) => item.id === 'EXACT')?.purl).toBe('pkg:npm/example-lib');
  });
});
