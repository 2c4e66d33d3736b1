import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ingestReport, parseImageConfig, recordImage, sha256, type ParsedReport, type ReportedFinding } from '@stratum/core';

import { readFixture } from './support/fixtures.ts';
import { graphqlClient, type GraphQLClient } from './support/graphql-client.ts';
import { startTestStore, type TestStore } from './support/local-store.ts';

const DHI_VEX = 'vex/dhi/dhi-nginx.openvex.json';
const REPOSITORY = 'registry.example.com/shop/web';
const diffId = (n: number) => sha256(`layer-${n}`);
const DAY = 86_400_000;

let local: TestStore;
let tenantCounter = 0;

type Client = GraphQLClient;

function client(): Client {
  return graphqlClient(local, `triage${++tenantCounter}`);
}

function reported(vulnerabilityId: string, name: string, layer: number, severity: ReportedFinding['severity'] = 'HIGH', fixedVersion?: string): ReportedFinding {
  return {
    vulnerabilityId,
    aliases: [],
    severity,
    fixedVersion,
    package: { name, version: '1.9.4-1', type: 'deb', purl: `pkg:deb/debian/${name}@1.9.4-1?arch=amd64&distro=debian-12` },
    layer: { diffId: diffId(layer) },
  };
}

/** Stores an image of REPOSITORY built on dhi/nginx:1.29 and imports DHI's real VEX. */
async function seed(api: Client, digest = sha256('app-manifest-1')): Promise<string> {
  const context = local.context(api.tenant);
  const baseConfig = parseImageConfig({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [diffId(0), diffId(1)] } });
  await recordImage(context, { imageId: sha256(JSON.stringify(baseConfig)), manifestDigest: sha256('base'), repository: 'dhi/nginx', tags: ['1.29'], config: baseConfig });

  const report: ParsedReport = {
    format: 'TRIVY',
    scanner: { name: 'trivy' },
    image: { manifestDigest: digest, repository: REPOSITORY, tags: [], diffIds: [diffId(0), diffId(1), diffId(2)] },
    findings: [
      reported('CVE-2025-62813', 'liblz4-1', 0, 'MEDIUM'),
      reported('CVE-2025-62813', 'liblz4-1', 2, 'MEDIUM'),
      reported('CVE-2024-0001', 'zlib1g', 2, 'CRITICAL', '1:1.3-1'),
      reported('CVE-2024-0002', 'libc6', 0, 'LOW'),
    ],
  };
  await ingestReport(context, { report });
  const imported = await api.query(`mutation ($document: JSON!) { importVex(input: { document: $document, source: VENDOR }) { findingsUpdated } }`, { document: readFixture(DHI_VEX) });
  expect(imported.errors).toBeUndefined();
  return digest;
}

const NOT_AFFECTED_BASE = {
  filter: { origins: ['BASE'], vexStatuses: ['NOT_AFFECTED'] },
  scope: 'REPOSITORY',
  repository: REPOSITORY,
  reason: 'NOT_AFFECTED',
  justification: 'vulnerable_code_cannot_be_controlled_by_adversary',
  comment: 'Hardened base image vendor states these are not exploitable',
};

const PREVIEW = `mutation ($input: SuppressionInput!) { previewSuppression(input: $input) { count sample { vulnerabilityId origin } } }`;
const SUPPRESS = `mutation ($input: SuppressionInput!) { suppressFindings(input: $input) { suppressedCount suppression { id state expiresAt createdBy appliedCount } } }`;
const FINDINGS = `query ($digest: String!, $filter: FindingFilter, $orderBy: FindingOrder) { image(digest: $digest) { findings(first: 50, filter: $filter, orderBy: $orderBy) {
  edges { node { id vulnerabilityId origin severity risk { score tier actionable reasons } suppression { id reason } } }
} } }`;

beforeAll(async () => {
  local = await startTestStore();
});

afterAll(async () => {
  await local.close();
});

describe('bulk suppression', () => {
  it('suppresses what the preview counted', async () => {
    const api = client();
    const digest = await seed(api);
    const preview = await api.query(PREVIEW, { input: NOT_AFFECTED_BASE });
    const created = await api.query(SUPPRESS, { input: NOT_AFFECTED_BASE });
    const suppressed = await api.query(FINDINGS, { digest, filter: { state: ['SUPPRESSED'] } });

    expect(preview.data.previewSuppression.count).toBe(1);
    expect(preview.data.previewSuppression.sample).toEqual([{ vulnerabilityId: 'CVE-2025-62813', origin: 'BASE' }]);
    expect(created.data.suppressFindings.suppressedCount).toBe(preview.data.previewSuppression.count);
    expect(suppressed.data.image.findings.edges).toHaveLength(1);
  });

  it('defaults to a 90-day expiry', async () => {
    const api = client();
    await seed(api);
    const created = await api.query(SUPPRESS, { input: NOT_AFFECTED_BASE });
    const expected = new Date(local.context().clock.now().getTime() + 90 * DAY).toISOString();

    expect(created.data.suppressFindings.suppression.expiresAt).toBe(expected);
    expect(created.data.suppressFindings.suppression.createdBy).toBe('local-user');
  });

  it('lists actionable findings first', async () => {
    const api = client();
    const digest = await seed(api);
    const ranked = await api.query(FINDINGS, { digest, orderBy: 'RISK' });
    const edges = ranked.data.image.findings.edges.map((edge: { node: any }) => edge.node);

    expect(edges.map((node: { risk: { actionable: boolean } }) => node.risk.actionable)).toEqual([true, true, true, false]);
    expect(edges[0].vulnerabilityId).toBe('CVE-2024-0001');
    expect(edges[0].risk.reasons[0]).toBe('Severity CRITICAL.');
    expect(edges[3].risk.reasons[0]).toMatch(/^VEX: Docker Hardened Images/);
  });

  it('follows the repository to a new digest', async () => {
    const api = client();
    await seed(api);
    await api.query(SUPPRESS, { input: NOT_AFFECTED_BASE });
    const next = await seed(api, sha256('app-manifest-2'));
    const findings = await api.query(FINDINGS, { digest: next, filter: { state: ['SUPPRESSED'] } });

    expect(findings.data.image.findings.edges).toHaveLength(1);
    expect(findings.data.image.findings.edges[0].node.origin).toBe('BASE');
  });

  it('reopens findings after expiry', async () => {
    const api = client();
    const digest = await seed(api);
    const clock = local.context().clock;
    const start = clock.now().toISOString();
    const expiresAt = new Date(clock.now().getTime() + 10 * DAY).toISOString();
    await api.query(SUPPRESS, { input: { ...NOT_AFFECTED_BASE, expiresAt } });

    try {
      clock.advance(11 * DAY);
      const open = await api.query(FINDINGS, { digest, filter: { state: ['SUPPRESSED'] } });
      const actionable = await api.query(FINDINGS, { digest, filter: { actionable: false } });

      expect(open.data.image.findings.edges).toHaveLength(0);
      // The VEX decision still makes the base finding non-actionable once the suppression lapses.
      expect(actionable.data.image.findings.edges.map((edge: { node: { origin: string } }) => edge.node.origin)).toEqual(['BASE']);
    } finally {
      clock.set(start);
    }
  });

  it('revokes with an audit trail', async () => {
    const api = client();
    const digest = await seed(api);
    const created = await api.query(SUPPRESS, { input: NOT_AFFECTED_BASE });
    const id = created.data.suppressFindings.suppression.id;
    const revoked = await api.query(`mutation ($id: String!) { revokeSuppression(id: $id, reason: "vendor retracted") { reopenedCount suppression { state endReason } } }`, { id });
    const trail = await api.query(`query ($id: String!) { suppressionAuditTrail(id: $id, first: 20) { edges { node { action actor reason } } } }`, { id });
    const imageTrail = await api.query(`query ($digest: String!) { imageAuditTrail(digest: $digest, first: 20) { edges { node { action } } } }`, { digest });
    const actions = trail.data.suppressionAuditTrail.edges.map((edge: { node: { action: string } }) => edge.node.action);

    expect(revoked.data.revokeSuppression).toEqual({ reopenedCount: 1, suppression: { state: 'REVOKED', endReason: 'vendor retracted' } });
    expect(actions).toEqual(['SUPPRESSION_CREATED', 'SUPPRESSION_APPLIED', 'SUPPRESSION_REVOKED', 'FINDING_REOPENED']);
    expect(imageTrail.data.imageAuditTrail.edges.map((edge: { node: { action: string } }) => edge.node.action)).toEqual(['VEX_DECISION', 'SUPPRESSION_APPLIED', 'FINDING_REOPENED']);
  });

  it('lists suppressions by state', async () => {
    const api = client();
    await seed(api);
    await api.query(SUPPRESS, { input: NOT_AFFECTED_BASE });
    const active = await api.query(`{ suppressions(first: 10, state: ACTIVE) { edges { node { state appliedCount } } } }`);
    const revoked = await api.query(`{ suppressions(first: 10, state: REVOKED) { edges { node { id } } } }`);

    expect(active.data.suppressions.edges).toEqual([{ node: { state: 'ACTIVE', appliedCount: 1 } }]);
    expect(revoked.data.suppressions.edges).toEqual([]);
  });

  it('creates nothing for an unknown image', async () => {
    const api = client();
    await seed(api);
    const result = await api.query(SUPPRESS, { input: { ...NOT_AFFECTED_BASE, scope: 'IMAGE', repository: undefined, imageDigest: sha256('unknown') } });
    const listed = await api.query(`{ suppressions(first: 10) { edges { node { id } } } }`);
    const audit = await api.query(`mutation { runSuppressionAudit { reviewed } }`);

    expect(result.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    expect(listed.data.suppressions.edges).toEqual([]);
    expect(audit.data.runSuppressionAudit.reviewed).toBe(0);
  });

  it.each([
    ['NOT_AFFECTED without justification', { ...NOT_AFFECTED_BASE, justification: undefined }, 'justification'],
    ['a tenant scope without ids', { ...NOT_AFFECTED_BASE, scope: 'TENANT', repository: undefined }, 'filter'],
    ['an empty filter', { ...NOT_AFFECTED_BASE, filter: {} }, 'filter'],
    ['no expiry against the policy', { ...NOT_AFFECTED_BASE, noExpiry: true }, 'noExpiry'],
    ['an expiry in the past', { ...NOT_AFFECTED_BASE, expiresAt: '2020-01-01T00:00:00Z' }, 'expiresAt'],
    ['a blank comment', { ...NOT_AFFECTED_BASE, comment: '  ' }, 'comment'],
    ['a repository scope without repository', { ...NOT_AFFECTED_BASE, repository: undefined }, 'repository'],
    ['an image scope with a repository', { ...NOT_AFFECTED_BASE, scope: 'IMAGE', imageDigest: sha256('app-manifest-1') }, 'repository'],
  ])('rejects %s', async (_name, input, field) => {
    const api = client();
    const result = await api.query(SUPPRESS, { input });
    const listed = await api.query(`{ suppressions(first: 10) { edges { node { id } } } }`);

    expect(result.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(result.errors?.[0]?.extensions?.field).toBe(field);
    expect(listed.data.suppressions.edges).toEqual([]);
  });
});

describe('risk policy', () => {
  it('versions changes with an audit record', async () => {
    const api = client();
    const policy = (await api.query(`{ riskPolicy }`)).data.riskPolicy;
    const updated = await api.query(`mutation ($policy: JSON!) { updateRiskPolicy(policy: $policy, comment: "base layers matter less") }`, {
      policy: { ...policy, version: 2, originFactor: { ...policy.originFactor, BASE: 0.5 } },
    });
    const stale = await api.query(`mutation ($policy: JSON!) { updateRiskPolicy(policy: $policy, comment: "again") }`, { policy: { ...policy, version: 2 } });

    expect(policy.version).toBe(1);
    expect(updated.data.updateRiskPolicy.originFactor.BASE).toBe(0.5);
    expect(stale.errors?.[0]?.extensions?.field).toBe('policy.version');

    const trail = await api.query(`{ tenantAuditTrail(first: 5) { edges { node { action reason actor } } } }`);
    expect(trail.data.tenantAuditTrail.edges).toEqual([{ node: { action: 'RISK_POLICY_CHANGED', reason: 'base layers matter less', actor: 'local-user' } }]);
  });
});
