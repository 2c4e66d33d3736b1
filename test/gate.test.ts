import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  evaluateGate,
  importVexDocument,
  ingestReport,
  instantiateWorkflowTemplate,
  parseGatePolicy,
  parseGateTarget,
  parseReport,
  parseVexDocument,
  recordImage,
  sha256,
  type ParsedReport,
  type ExploitFacts,
  type GateContext,
  type Image,
  type InvalidInputError,
} from '@stratum/core';
import { createGraphQLServer, localAuthenticator } from '@stratum/graphql';

import { readFixture } from './support/fixtures.ts';
import { startTestStore, type TestStore } from './support/local-store.ts';

const JUICE_SHOP = 'reports/trivy/scb-juice-shop-v12.10.2-alpine-node.json';
const XJOIN = 'reports/grype/dd-xjoin-kafka-connect-strimzi-rhel87-java.json';
const XJOIN_VEX = 'vex/vex-openvex/stratum-xjoin-avro-not-affected.openvex.json';

let local: TestStore;

async function ingest(tenant: string, fixture: string): Promise<Image> {
  const result = await ingestReport(local.context(tenant), { report: parseReport(readFixture(fixture)) });
  return result.image;
}

function gateContext(tenant: string, exploitFacts?: GateContext['exploitFacts']): GateContext {
  const context = local.context(tenant);
  return { store: context.store, logger: context.logger, exploitFacts };
}

/** Application-layer findings the default policy covers: HIGH and CRITICAL outside base layers, from the image's own counts. */
function highOrCritical(image: Image, origin: 'BASE' | 'APPLICATION' | 'UNKNOWN'): number {
  const counts = image.scan!.counts[origin];
  return (counts.CRITICAL ?? 0) + (counts.HIGH ?? 0);
}

beforeAll(async () => {
  local = await startTestStore();
});

afterAll(async () => {
  await local.close();
});

describe('evaluateGate with the default policy', () => {
  let juiceShop: Image;
  let xjoin: Image;

  beforeAll(async () => {
    juiceShop = await ingest('acme', JUICE_SHOP);
    xjoin = await ingest('acme', XJOIN);
  });

  it('fails on application-layer criticals', async () => {
    const result = await evaluateGate(gateContext('acme'), { imageDigest: juiceShop.digest! }, undefined, local.context().clock.now());
    const expectedFailing = highOrCritical(juiceShop, 'APPLICATION') + highOrCritical(juiceShop, 'UNKNOWN');

    expect(result.decision).toBe('FAIL');
    expect(result.policySource).toBe('DEFAULT');
    expect(result.summary!.failing).toBe(expectedFailing);
    expect(result.findings).toHaveLength(expectedFailing);
    expect(result.findings.every(({ finding }) => finding.origin !== 'BASE')).toBe(true);
    expect(result.findings.every(({ finding }) => finding.severity === 'CRITICAL' || finding.severity === 'HIGH')).toBe(true);
    expect(result.findings.some(({ finding }) => finding.severity === 'CRITICAL')).toBe(true);
  });

  it('counts base-layer findings as ignored', async () => {
    const result = await evaluateGate(gateContext('acme'), { imageDigest: juiceShop.digest! }, undefined, local.context().clock.now());
    const ignoredTotal = Object.values(result.summary!.ignored).reduce((sum, count) => sum + count, 0);

    expect(result.summary!.ignored.BASE_LAYER).toBe(highOrCritical(juiceShop, 'BASE'));
    expect(result.summary!.total).toBe(juiceShop.scan!.findingCount);
    expect(result.summary!.failing + ignoredTotal).toBe(result.summary!.total);
    expect(result.summary!.byOrigin.BASE).toBe(Object.values(juiceShop.scan!.counts.BASE).reduce((sum, count) => sum + (count ?? 0), 0));
  });

  it('lists the riskiest finding first', async () => {
    const result = await evaluateGate(gateContext('acme'), { imageDigest: juiceShop.digest! }, undefined, local.context().clock.now());
    const scores = result.findings.map((item) => item.risk.score);

    expect(scores).toEqual([...scores].sort((a, b) => b - a));
    expect(result.findings[0]!.rule).toBe('Actionable HIGH or CRITICAL finding in an application layer');
  });

  it('resolves a repository and tag', async () => {
    const result = await evaluateGate(gateContext('acme'), { repository: 'quay.io/cloudservices/xjoin-kafka-connect-strimzi', tag: 'latest' }, undefined, local.context().clock.now());

    expect(result.image?.key).toBe(xjoin.key);
    expect(result.decision).toBe('FAIL');
    expect(result.findings.map(({ finding }) => finding.vulnerabilityId)).toEqual(['CVE-2023-39410', 'CVE-2023-39410']);
  });
});

describe('evaluateGate with VEX and policies', () => {
  let xjoin: Image;

  beforeAll(async () => {
    xjoin = await ingest('vexed', XJOIN);
    const context = { ...local.context('vexed'), actor: 'test' };
    await importVexDocument(context, parseVexDocument(readFixture(XJOIN_VEX)), 'VENDOR');
  });

  it('passes when application findings are not affected', async () => {
    const result = await evaluateGate(gateContext('vexed'), { imageDigest: xjoin.digest! }, undefined, local.context().clock.now());

    expect(result.decision).toBe('PASS');
    expect(result.findings).toEqual([]);
    expect(result.summary!.ignored.NOT_AFFECTED).toBe(2);
    expect(result.summary!.ignored.BASE_LAYER).toBe(highOrCritical(xjoin, 'BASE'));
    expect(result.reasons[0]).toMatch(/^None of the \d+ findings/);
  });

  it('fails on a base critical with failOnBase', async () => {
    const policy = parseGatePolicy({ failOnBase: true, rules: [{ name: 'Any critical', severities: ['CRITICAL'] }] });
    const result = await evaluateGate(gateContext('vexed'), { imageDigest: xjoin.digest! }, policy, local.context().clock.now());

    expect(result.decision).toBe('FAIL');
    expect(result.policySource).toBe('ARGUMENT');
    expect(result.findings.map(({ finding }) => finding.origin)).toEqual(['BASE']);
    expect(result.findings[0]!.rule).toBe('Any critical');
  });

  it('applies kev and minEpss from the feeds', async () => {
    const facts = async (ids: readonly string[]) =>
      new Map<string, ExploitFacts>(ids.filter((id) => id === 'CVE-2023-4408').map((id) => [id, { kev: { dateAdded: '2026-01-01' }, epss: { score: 0.6 } }]));
    const policy = parseGatePolicy({ failOnBase: true, rules: [{ name: 'Known exploited', kev: true, minEpss: 0.5 }] });
    const result = await evaluateGate(gateContext('vexed', facts), { imageDigest: xjoin.digest! }, policy, local.context().clock.now());

    expect(result.decision).toBe('FAIL');
    expect(new Set(result.findings.map(({ finding }) => finding.vulnerabilityId))).toEqual(new Set(['CVE-2023-4408']));
    expect(result.findings.every((item) => item.facts.kev !== undefined)).toBe(true);
  });

  it('skips rules for other repositories', async () => {
    const policy = parseGatePolicy({ rules: [{ name: 'Team payments only', severities: ['CRITICAL', 'HIGH', 'UNKNOWN'], actionable: null, repositories: ['payments/**'] }] });
    const result = await evaluateGate(gateContext('vexed'), { imageDigest: xjoin.digest! }, policy, local.context().clock.now());

    expect(result.decision).toBe('PASS');
    expect(result.summary!.ignored.NO_RULE_MATCHED + result.summary!.ignored.BASE_LAYER).toBe(result.summary!.total);
  });

  it('counts a not_affected finding with actionable null', async () => {
    const policy = parseGatePolicy({ rules: [{ name: 'Every high', severities: ['HIGH'], actionable: null }] });
    const result = await evaluateGate(gateContext('vexed'), { imageDigest: xjoin.digest! }, policy, local.context().clock.now());

    expect(result.decision).toBe('FAIL');
    expect(result.findings.map(({ finding }) => finding.vex?.status)).toEqual(['NOT_AFFECTED', 'NOT_AFFECTED']);
  });
});

describe('evaluateGate while waiting', () => {
  it('is pending for an unknown image', async () => {
    const digest = `sha256:${'e'.repeat(64)}`;
    const result = await evaluateGate(gateContext('waiting'), { imageDigest: digest }, undefined, local.context().clock.now());

    expect(result.decision).toBe('PENDING');
    expect(result.pendingReason).toBe('IMAGE_NOT_FOUND');
    expect(result.summary).toBeUndefined();
    expect(result.reasons[0]).toContain(digest);
  });

  it('is pending for a pushed image without scan', async () => {
    const digest = `sha256:${'f'.repeat(64)}`;
    await recordImage(local.context('waiting'), { manifestDigest: digest, repository: 'team/app', tags: ['1.0.0'], pushedAt: '2026-12-01T11:00:00Z' });

    const byDigest = await evaluateGate(gateContext('waiting'), { imageDigest: digest }, undefined, local.context().clock.now());
    const byTag = await evaluateGate(gateContext('waiting'), { repository: 'team/app', tag: '1.0.0' }, undefined, local.context().clock.now());

    expect(byDigest.pendingReason).toBe('SCAN_PENDING');
    expect(byTag.pendingReason).toBe('SCAN_PENDING');
    expect(byTag.image?.digest).toBe(digest);
  });

  it('is pending when the scan is too old', async () => {
    const image = await ingest('waiting', JUICE_SHOP);
    const policy = parseGatePolicy({ maxScanAgeHours: 24, rules: [{ name: 'Critical', severities: ['CRITICAL'] }] });
    const importedAt = Date.parse(image.scan!.importedAt);

    const fresh = await evaluateGate(gateContext('waiting'), { imageDigest: image.digest! }, policy, new Date(importedAt + 23 * 3_600_000));
    const stale = await evaluateGate(gateContext('waiting'), { imageDigest: image.digest! }, policy, new Date(importedAt + 25 * 3_600_000));

    expect(fresh.decision).toBe('FAIL');
    expect(stale.decision).toBe('PENDING');
    expect(stale.pendingReason).toBe('SCAN_TOO_OLD');
  });
});

describe('evaluateGate with GATE workflows', () => {
  it('uses the enabled workflows as policy', async () => {
    const image = await ingest('workflows', JUICE_SHOP);
    const context = { ...local.context('workflows'), actor: 'test' };
    await instantiateWorkflowTemplate(context, 'block-critical-reachable');

    const result = await evaluateGate(gateContext('workflows'), { imageDigest: image.digest! }, undefined, local.context().clock.now());

    expect(result.policySource).toBe('WORKFLOWS');
    expect(result.decision).toBe('FAIL');
    expect(result.summary!.failing).toBe(image.scan!.counts.APPLICATION.CRITICAL);
    expect(result.findings.every((item) => item.rule === 'Block on critical reachable')).toBe(true);
  });

  it('template fails on unknown-origin critical', async () => {
    // The default policy counts layers of unknown origin as the application's, and so must the template.
    // A report that names no layer leaves its findings in layers of unknown origin.
    const report: ParsedReport = {
      format: 'TRIVY',
      scanner: { name: 'trivy' },
      image: { manifestDigest: sha256('gate-unknown-origin'), repository: 'team/unknown-origin', tags: [] },
      findings: [{ vulnerabilityId: 'CVE-2023-0286', aliases: [], severity: 'CRITICAL', package: { name: 'openssl', version: '3.0.7-r0', type: 'apk' } }],
    };
    const { image } = await ingestReport(local.context('unknown-origin'), { report });
    const byDefault = await evaluateGate(gateContext('unknown-origin'), { imageDigest: image.digest! }, undefined, local.context().clock.now());
    await instantiateWorkflowTemplate({ ...local.context('unknown-origin'), actor: 'test' }, 'block-critical-reachable');

    const byTemplate = await evaluateGate(gateContext('unknown-origin'), { imageDigest: image.digest! }, undefined, local.context().clock.now());

    expect(byDefault.policySource).toBe('DEFAULT');
    expect(byDefault.decision).toBe('FAIL');
    expect(byTemplate.policySource).toBe('WORKFLOWS');
    expect(byTemplate.decision).toBe('FAIL');
    expect(byTemplate.findings.map((item) => [item.finding.origin, item.finding.vulnerabilityId])).toEqual([['UNKNOWN', 'CVE-2023-0286']]);
  });

  it('lets a request policy win', async () => {
    const image = (await local.context('workflows').store.listImages('bkimminich/juice-shop', { first: 1 })).items[0]!.node;
    const policy = parseGatePolicy({ rules: [{ name: 'Known exploited only', kev: true }] });

    const result = await evaluateGate(gateContext('workflows'), { imageDigest: image.digest! }, policy, local.context().clock.now());

    expect(result.policySource).toBe('ARGUMENT');
    expect(result.decision).toBe('PASS');
  });
});

describe('gate input validation', () => {
  it.each([
    { name: 'nothing', input: {}, path: 'imageDigest', message: /Missing image/ },
    { name: 'tag without repository', input: { tag: 'v1' }, path: 'repository', message: /Missing repository/ },
    { name: 'repository without tag', input: { repository: 'team/app' }, path: 'tag', message: /Missing tag/ },
    { name: 'digest and tag', input: { imageDigest: `sha256:${'a'.repeat(64)}`, tag: 'v1' }, path: 'imageDigest', message: /either imageDigest/ },
    { name: 'short digest', input: { imageDigest: 'sha256:abc' }, path: 'imageDigest', message: /imageDigest/ },
    { name: 'tag with colon', input: { repository: 'team/app', tag: 'v1:2' }, path: 'tag', message: /Invalid tag/ },
    { name: 'tag in repository', input: { repository: 'team/app:v1', tag: 'v1' }, path: 'repository', message: /without tag or digest/ },
  ])('rejects a target with $name', ({ input, path, message }) => {
    let error: InvalidInputError | undefined;
    try {
      parseGateTarget(input);
    } catch (caught) {
      error = caught as InvalidInputError;
    }

    expect(error?.message).toMatch(message);
    expect(error?.details.path).toBe(path);
  });

  it('accepts a registry with port', () => {
    expect(parseGateTarget({ repository: ' localhost:5000/team/app ', tag: '1.0' })).toEqual({ repository: 'localhost:5000/team/app', tag: '1.0' });
  });

  it('rejects a base origin without failOnBase', () => {
    expect(() => parseGatePolicy({ rules: [{ name: 'Base', origins: ['BASE'] }] })).toThrow(/rules\[0\]\.origins.*failOnBase/);
  });

  it('rejects an unknown policy field', () => {
    expect(() => parseGatePolicy({ rules: [{ name: 'Typo', severity: ['HIGH'] }] })).toThrow(/rules\[0\]/);
  });

  it('fills in the rule defaults', () => {
    const policy = parseGatePolicy({ rules: [{ name: 'High', severities: ['HIGH'] }] });

    expect(policy.failOnBase).toBe(false);
    expect(policy.rules[0]!.actionable).toBe(true);
  });
});

describe('evaluateGate over GraphQL', () => {
  let yoga: ReturnType<typeof createGraphQLServer>;

  beforeAll(async () => {
    await ingest('gql-gate', XJOIN);
    yoga = createGraphQLServer({ store: local.store, clock: local.context().clock, logger: local.context().logger, authenticate: localAuthenticator('gql-gate') });
  });

  async function query(variables: Record<string, unknown>) {
    const response = await yoga.fetch('http://yoga/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        query: `query ($imageDigest: String, $repository: String, $tag: String, $policy: JSON) {
          evaluateGate(imageDigest: $imageDigest, repository: $repository, tag: $tag, policy: $policy) {
            decision pendingReason policySource image { repository }
            summary { failing ignored { reason count } }
            findings { rule kev finding { vulnerabilityId origin package { name } } risk { score } }
          }
        }`,
        variables,
      }),
    });
    return (await response.json()) as { data?: { evaluateGate: any }; errors?: Array<{ message: string; extensions?: { code?: string; field?: string } }> };
  }

  it('returns the failing findings', async () => {
    const { data, errors } = await query({ repository: 'quay.io/cloudservices/xjoin-kafka-connect-strimzi', tag: 'latest' });

    expect(errors).toBeUndefined();
    expect(data!.evaluateGate.decision).toBe('FAIL');
    expect(data!.evaluateGate.findings.map((item: any) => item.finding.package.name)).toEqual(['avro', 'avro']);
    expect(data!.evaluateGate.summary.ignored.find((row: any) => row.reason === 'BASE_LAYER').count).toBeGreaterThan(0);
  });

  it('names a missing tag', async () => {
    const { errors } = await query({ repository: 'quay.io/cloudservices/xjoin-kafka-connect-strimzi' });

    expect(errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(errors?.[0]?.extensions?.field).toBe('tag');
    expect(errors?.[0]?.message).toMatch(/Missing tag/);
  });

  it('names an invalid policy field', async () => {
    const { errors } = await query({ repository: 'quay.io/cloudservices/xjoin-kafka-connect-strimzi', tag: 'latest', policy: { rules: [{ name: 'x', minEpss: 2 }] } });

    expect(errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(errors?.[0]?.message).toMatch(/rules\[0\]\.minEpss/);
  });

  it('is pending for an unknown tag', async () => {
    const { data } = await query({ repository: 'quay.io/cloudservices/xjoin-kafka-connect-strimzi', tag: 'not-pushed-yet' });

    expect(data!.evaluateGate.decision).toBe('PENDING');
    expect(data!.evaluateGate.pendingReason).toBe('IMAGE_NOT_FOUND');
    expect(data!.evaluateGate.image).toBeNull();
  });
});
