import { Ajv2020 } from 'ajv/dist/2020.js';
import formats from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ingestReport, parseImageConfig, parseOpenVex, recordImage, sha256, type ParsedReport, type ReportedFinding } from '@stratum/core';

import { readFixture } from './support/fixtures.ts';
import { graphqlClient, type GraphQLClient } from './support/graphql-client.ts';
import { startTestStore, type TestStore } from './support/local-store.ts';

const DHI_VEX = 'vex/dhi/dhi-nginx.openvex.json';
const diffId = (n: number) => sha256(`layer-${n}`);
const APP_DIGEST = sha256('app-manifest');

let local: TestStore;
let tenantCounter = 0;

type Client = GraphQLClient;

function client(): Client {
  return graphqlClient(local, `vex${++tenantCounter}`);
}

function reportedFinding(vulnerabilityId: string, name: string, layer: number): ReportedFinding {
  return {
    vulnerabilityId,
    aliases: [],
    severity: 'HIGH',
    package: { name, version: '1.9.4-1', type: 'deb', purl: `pkg:deb/debian/${name}@1.9.4-1?arch=amd64&distro=debian-12` },
    layer: { diffId: diffId(layer) },
  };
}

/** Stores an image built on dhi/nginx:1.29 (two layers) with one application layer that reinstalled liblz4-1. */
async function seedImages(tenant: string): Promise<void> {
  const context = local.context(tenant);
  const baseConfig = parseImageConfig({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [diffId(0), diffId(1)] } });
  await recordImage(context, { imageId: sha256(JSON.stringify(baseConfig)), manifestDigest: sha256('base-manifest'), repository: 'dhi/nginx', tags: ['1.29'], config: baseConfig });

  const report: ParsedReport = {
    format: 'TRIVY',
    scanner: { name: 'trivy' },
    image: { manifestDigest: APP_DIGEST, repository: 'registry.example.com/shop/web', tags: ['2.0.0'], diffIds: [diffId(0), diffId(1), diffId(2)] },
    findings: [
      reportedFinding('CVE-2025-62813', 'liblz4-1', 0),
      reportedFinding('CVE-2025-62813', 'liblz4-1', 2),
      reportedFinding('CVE-2025-52099', 'libsqlite3-0', 1),
      reportedFinding('CVE-2024-0001', 'zlib1g', 0),
    ],
  };
  await ingestReport(context, { report });
}

const FINDINGS = `query ($digest: String!, $filter: FindingFilter) { image(digest: $digest) {
  baseImage { name hardened method }
  findings(first: 50, filter: $filter) { edges { node { vulnerabilityId origin package { name } layer { index }
    vex { status justification matchedBy author product reason statusNotes documentKey }
    vexHistory { action cause before { status } after { status } }
  } } }
} }`;

const IMPORT = `mutation ($document: JSON!, $source: VexSource) { importVex(input: { document: $document, source: $source }) {
  findingsUpdated alreadyImported document { id documentId format author state statementCount source importedBy }
} }`;

beforeAll(async () => {
  local = await startTestStore();
});

afterAll(async () => {
  await local.close();
});

type Edge = { node: { vulnerabilityId: string; origin: string; layer: { index: number }; vex: any; vexHistory: any[] } };

async function findings(api: Client, filter?: Record<string, unknown>): Promise<Edge['node'][]> {
  const result = await api.query(FINDINGS, { digest: APP_DIGEST, filter });
  expect(result.errors).toBeUndefined();
  return result.data.image.findings.edges.map((edge: Edge) => edge.node);
}

describe('VEX from a hardened base image vendor', () => {
  let api: Client;
  let documentKey: string;

  beforeAll(async () => {
    api = client();
    await seedImages(api.tenant);
    const imported = await api.query(IMPORT, { document: readFixture(DHI_VEX), source: 'VENDOR' });
    expect(imported.errors).toBeUndefined();
    documentKey = imported.data.importVex.document.id;
  });

  it('detects the hardened base', async () => {
    const result = await api.query(FINDINGS, { digest: APP_DIGEST });

    expect(result.data.image.baseImage).toEqual({ name: 'dhi/nginx:1.29', hardened: true, method: 'LAYER_PREFIX' });
  });

  it('marks the base-layer finding not affected', async () => {
    const all = await findings(api);
    const base = all.find((finding) => finding.vulnerabilityId === 'CVE-2025-62813' && finding.origin === 'BASE')!;

    expect(base.vex.status).toBe('NOT_AFFECTED');
    expect(base.vex.justification).toBe('vulnerable_code_cannot_be_controlled_by_adversary');
    expect(base.vex.matchedBy).toBe('BASE_IMAGE');
    expect(base.vex.author).toBe('Docker Hardened Images <dhi@docker.com>');
    expect(base.vex.statusNotes).toMatch(/lz4/);
    expect(base.vex.reason).toMatch(/base image pkg:(docker|oci)\/dhi/);
  });

  it('leaves the reinstalled package in the application layer', async () => {
    const all = await findings(api);
    const app = all.find((finding) => finding.vulnerabilityId === 'CVE-2025-62813' && finding.origin === 'APPLICATION')!;

    expect(app.layer.index).toBe(2);
    expect(app.vex).toBeNull();
  });

  it('keeps under investigation visible', async () => {
    const all = await findings(api);

    expect(all.find((finding) => finding.vulnerabilityId === 'CVE-2025-52099')?.vex.status).toBe('UNDER_INVESTIGATION');
    expect(all.find((finding) => finding.vulnerabilityId === 'CVE-2024-0001')?.vex).toBeNull();
  });

  it('filters findings by VEX status', async () => {
    const notAffected = await findings(api, { vexStatus: ['NOT_AFFECTED'] });
    const undecided = await findings(api, { vexStatus: ['NONE'] });

    expect(notAffected.map((finding) => finding.origin)).toEqual(['BASE']);
    expect(undecided).toHaveLength(2);
  });

  it('imports the same document once', async () => {
    const again = await api.query(IMPORT, { document: readFixture(DHI_VEX), source: 'VENDOR' });

    expect(again.data.importVex.alreadyImported).toBe(true);
    expect(again.data.importVex.findingsUpdated).toBe(0);
    expect(again.data.importVex.document.id).toBe(documentKey);
  });

  it('lists the document', async () => {
    const result = await api.query(`{ vexDocuments(first: 5) { edges { node { id format author statementCount state source importedBy } } } }`);

    expect(result.data.vexDocuments.edges).toEqual([
      { node: { id: documentKey, format: 'OPENVEX', author: 'Docker Hardened Images <dhi@docker.com>', statementCount: 55, state: 'ACTIVE', source: 'VENDOR', importedBy: 'local-user' } },
    ]);
  });
});

describe('VEX lifecycle', () => {
  it('applies a document imported before the scan', async () => {
    const api = client();
    await api.query(IMPORT, { document: readFixture(DHI_VEX), source: 'VENDOR' });
    await seedImages(api.tenant);
    const all = await findings(api);

    expect(all.filter((finding) => finding.vex?.status === 'NOT_AFFECTED')).toHaveLength(1);
  });

  it('revokes and keeps the history', async () => {
    const api = client();
    await seedImages(api.tenant);
    const imported = await api.query(IMPORT, { document: readFixture(DHI_VEX), source: 'VENDOR' });
    const revoked = await api.query(`mutation ($id: String!) { revokeVex(id: $id, reason: "vendor withdrew the statement") { findingsUpdated document { state revokeReason revokedBy } } }`, {
      id: imported.data.importVex.document.id,
    });
    const all = await findings(api);
    const base = all.find((finding) => finding.vulnerabilityId === 'CVE-2025-62813' && finding.origin === 'BASE')!;

    expect(imported.data.importVex.findingsUpdated).toBe(2);
    expect(revoked.data.revokeVex.findingsUpdated).toBe(2);
    expect(revoked.data.revokeVex.document).toEqual({ state: 'REVOKED', revokeReason: 'vendor withdrew the statement', revokedBy: 'local-user' });
    expect(base.vex).toBeNull();
    expect(base.vexHistory.map((entry: { action: string; cause: string }) => `${entry.action}/${entry.cause}`)).toEqual(['APPLIED/IMPORT', 'REMOVED/REVOKE']);
    expect(base.vexHistory[0].after.status).toBe('NOT_AFFECTED');
  });

  it('keeps the revocation on re-import', async () => {
    const api = client();
    const imported = await api.query(IMPORT, { document: readFixture(DHI_VEX), source: 'VENDOR' });
    const id = imported.data.importVex.document.id;
    await api.query(`mutation ($id: String!) { revokeVex(id: $id, reason: "wrong vendor") { findingsUpdated } }`, { id });
    const again = await api.query(IMPORT, { document: readFixture(DHI_VEX), source: 'VENDOR' });
    const listed = await api.query(`{ vexDocuments(first: 5) { edges { node { id state revokeReason } } } }`);

    expect(again.data.importVex.alreadyImported).toBe(false);
    expect(listed.data.vexDocuments.edges).toEqual([{ node: { id, state: 'ACTIVE', revokeReason: 'wrong vendor' } }]);
  });

  it('lets the tenant decide its own layers', async () => {
    const api = client();
    await seedImages(api.tenant);
    const own = {
      '@context': 'https://openvex.dev/ns/v0.2.0',
      '@id': 'https://shop.example/vex/web-2.0.0',
      author: 'Shop security team',
      timestamp: '2026-11-30T10:00:00Z',
      version: 1,
      statements: [
        {
          vulnerability: { name: 'CVE-2025-62813' },
          products: [{ '@id': `registry.example.com/shop/web@${APP_DIGEST}`, subcomponents: [{ '@id': 'pkg:deb/debian/liblz4-1' }] }],
          status: 'not_affected',
          justification: 'vulnerable_code_not_in_execute_path',
        },
      ],
    };
    const result = await api.query(IMPORT, { document: own, source: 'OWN' });
    const all = await findings(api);

    expect(result.data.importVex.findingsUpdated).toBe(2);
    expect(all.filter((finding) => finding.vex?.matchedBy === 'IMAGE')).toHaveLength(2);
  });

  it('rejects an invalid document naming the path', async () => {
    const api = client();
    const document = readFixture<{ statements: Array<Record<string, unknown>> }>(DHI_VEX);
    document.statements[3]!.status = 'maybe';
    const result = await api.query(IMPORT, { document });
    const listed = await api.query(`{ vexDocuments(first: 5) { edges { node { id } } } }`);

    expect(result.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(result.errors?.[0]?.message).toMatch(/statements\[3\]\.status/);
    expect(listed.data.vexDocuments.edges).toHaveLength(0);
  });

  it.each([
    ['vex/vex-csaf/trustify-redhat-cve-2024-5154-cri-o-large.json', 'CSAF', 5],
    ['vex/vex-csaf/guac-redhat-rhsa-2023-1441-openssl-csaf-vex.json', 'CSAF', 2],
    ['vex/vex-csaf/oasis-csaf-vex-uc01-not-affected-log4shell.json', 'CSAF', 1],
    ['vex/vex-cyclonedx/cdx-bom-examples-cisa-case1-not-affected.json', 'CYCLONEDX', 1],
    ['vex/vex-cyclonedx/guac-cdx14-vex-log4shell-affected-versions.json', 'CYCLONEDX', 1],
    ['vex/vex-openvex/trivy-real-oci-image-openvex-v020.json', 'OPENVEX', 7],
    ['vex/vex-openvex/dd-openvex-v020-mixed-legacy-statements.json', 'OPENVEX', 6],
  ])('imports %s', async (path, format, statements) => {
    const api = client();
    const result = await api.query(IMPORT, { document: readFixture(path) });

    expect(result.errors).toBeUndefined();
    expect(result.data.importVex.document.format).toBe(format);
    expect(result.data.importVex.document.statementCount).toBe(statements);
    expect(result.data.importVex.document.state).toBe('ACTIVE');
  });

  it('rejects revoking an unknown document', async () => {
    const api = client();
    const result = await api.query(`mutation { revokeVex(id: "${'0'.repeat(32)}", reason: "test") { findingsUpdated } }`);

    expect(result.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
  });
});

describe('VEX export', () => {
  it('round-trips through the parser', async () => {
    const api = client();
    await seedImages(api.tenant);
    await api.query(IMPORT, { document: readFixture(DHI_VEX), source: 'VENDOR' });
    const exported = await api.query(`query ($digest: String!) { vexDocument(imageDigest: $digest) }`, { digest: APP_DIGEST });
    const document = exported.data.vexDocument;
    const parsed = parseOpenVex(document);

    expect(document['@context']).toBe('https://openvex.dev/ns/v0.2.0');
    expect(parsed.statements).toHaveLength(1);
    expect(parsed.statements[0]).toMatchObject({ vulnerabilityId: 'CVE-2025-62813', status: 'NOT_AFFECTED', justification: 'vulnerable_code_cannot_be_controlled_by_adversary' });
    expect(parsed.statements[0]!.products[0]!.id).toBe(`pkg:oci/web@${encodeURIComponent(APP_DIGEST)}?repository_url=registry.example.com/shop/web`);
    expect(parsed.statements[0]!.products[0]!.subcomponents.map((sub) => sub.id)).toEqual(['pkg:deb/debian/liblz4-1@1.9.4-1?arch=amd64&distro=debian-12']);
  });

  it('validates against the OpenVEX schema', async () => {
    const api = client();
    await seedImages(api.tenant);
    await api.query(IMPORT, { document: readFixture(DHI_VEX), source: 'VENDOR' });
    await api.query(IMPORT, {
      document: {
        '@context': 'https://openvex.dev/ns/v0.2.0',
        '@id': 'https://shop.example/vex/affected',
        author: 'Shop security team',
        timestamp: '2026-11-30T10:00:00Z',
        version: 1,
        statements: [{ vulnerability: { name: 'CVE-2024-0001' }, products: [{ '@id': APP_DIGEST }], status: 'affected', action_statement: 'Upgrade zlib1g.' }],
      },
      source: 'OWN',
    });
    const exported = await api.query(`query ($digest: String!) { vexDocument(imageDigest: $digest) }`, { digest: APP_DIGEST });

    const ajv = new Ajv2020({ allErrors: true });
    // ajv-formats is CommonJS; under NodeNext its default export arrives as the module object.
    const addFormats = (formats as unknown as { default: (instance: Ajv2020) => void }).default;
    addFormats(ajv);
    const validate = ajv.compile(readFixture('schemas/openvex_json_schema_0.2.0.json'));
    const valid = validate(exported.data.vexDocument);

    expect(validate.errors ?? []).toEqual([]);
    expect(valid).toBe(true);
    expect(exported.data.vexDocument.statements.map((statement: { status: string }) => statement.status).sort()).toEqual(['affected', 'not_affected']);
  });
});
