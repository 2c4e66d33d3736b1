import { ECRClient } from '@aws-sdk/client-ecr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  createSuppression,
  DEFAULT_RISK_POLICY,
  importVexDocument,
  ingestReport,
  parseVexDocument,
  runSuppressionAudit,
  sha256,
  type ExploitFacts,
  type ParsedReport,
  type ReportedFinding,
  type Severity,
  type SuppressionRequest,
} from '@stratum/core';

import { handleSuppressionAudit } from '../packages/functions/src/suppression-audit.ts';
import { startTestStore, type TestStore } from './support/local-store.ts';

const DIGEST = sha256('audited-image');
const REPOSITORY = 'registry.example.com/shop/api';
const DAY = 86_400_000;

let local: TestStore;
let counter = 0;

function context() {
  return { ...local.context(`audit${++counter}`), actor: 'test-user' };
}

function report(severity: Severity = 'MEDIUM'): ParsedReport {
  const finding: ReportedFinding = {
    vulnerabilityId: 'CVE-2023-0286',
    aliases: [],
    severity,
    package: { name: 'openssl', version: '3.0.7-r0', type: 'apk', purl: 'pkg:apk/alpine/openssl@3.0.7-r0?arch=x86_64' },
  };
  return { format: 'TRIVY', scanner: { name: 'trivy' }, image: { manifestDigest: DIGEST, repository: REPOSITORY, tags: [] }, findings: [finding] };
}

const RULE: SuppressionRequest = {
  filter: { vulnerabilityIds: ['CVE-2023-0286'] },
  scope: { kind: 'REPOSITORY', repository: REPOSITORY },
  reason: 'RISK_ACCEPTED',
  comment: 'Only reachable from the admin network',
};

async function prepared(request: SuppressionRequest = RULE) {
  const triage = context();
  await ingestReport(triage, { report: report() });
  const { rule } = await createSuppression(triage, request);
  return { triage, rule };
}

async function currentFinding(triage: ReturnType<typeof context>) {
  const image = await triage.store.getImage(DIGEST);
  return (await triage.store.allFindings(image!.scan!.id))[0]!;
}

const facts = (value: ExploitFacts) => async (ids: readonly string[]) => new Map(ids.map((id) => [id, value]));

beforeAll(async () => {
  local = await startTestStore();
});

afterAll(async () => {
  await local.close();
});

describe('scheduled audit handler', () => {
  it('audits every tenant with rules', async () => {
    const clock = local.context().clock;
    const start = clock.now().toISOString();
    const { triage } = await prepared({ ...RULE, expiresAt: new Date(clock.now().getTime() + DAY).toISOString() });

    try {
      clock.advance(2 * DAY);
      const summary = await handleSuppressionAudit({ store: local.store, clock, logger: triage.logger, ecr: () => new ECRClient({ region: 'us-east-1' }), tenantForAccount: () => 'unused' });
      const reports = await triage.store.triage.listAuditReports({ first: 5 });

      expect(summary.failed).toEqual([]);
      expect(summary.tenants).toBeGreaterThanOrEqual(1);
      expect(summary.lapsed).toBeGreaterThanOrEqual(1);
      expect(reports.items[0]?.node.ranBy).toBe('stratum:quarterly-audit');
      expect(reports.items[0]?.node.lapsed).toBe(1);
    } finally {
      clock.set(start);
    }
  });
});

describe('quarterly suppression audit', () => {
  it('lapses an expired rule', async () => {
    const clock = local.context().clock;
    const start = clock.now().toISOString();
    const { triage, rule } = await prepared({ ...RULE, expiresAt: new Date(clock.now().getTime() + 30 * DAY).toISOString() });

    try {
      clock.advance(31 * DAY);
      const result = await runSuppressionAudit(triage);
      const stored = await triage.store.triage.getRule(rule.id);
      const finding = await currentFinding(triage);
      const reports = await triage.store.triage.listAuditReports({ first: 5 });

      expect(result.lapsed).toBe(1);
      expect(result.rules[0]).toMatchObject({ outcome: 'LAPSED', reopenedCount: 1 });
      expect(stored?.state).toBe('EXPIRED');
      expect(finding.suppression).toBeUndefined();
      expect(reports.items.map((item) => item.node.id)).toEqual([result.id]);
    } finally {
      clock.set(start);
    }
  });

  it('keeps an unchanged rule', async () => {
    const { triage } = await prepared();
    const result = await runSuppressionAudit(triage, { exploitFacts: facts({}) });

    expect(result.rules.map((outcome) => outcome.outcome)).toEqual(['KEPT']);
    expect((await currentFinding(triage)).suppression).toBeDefined();
  });

  it('reopens when VEX says affected', async () => {
    const { triage, rule } = await prepared();
    const document = parseVexDocument({
      '@context': 'https://openvex.dev/ns/v0.2.0',
      '@id': 'https://shop.example/vex/api',
      author: 'Shop security team',
      timestamp: '2026-12-01T13:00:00Z',
      version: 1,
      statements: [{ vulnerability: { name: 'CVE-2023-0286' }, products: [{ '@id': `${REPOSITORY}@${DIGEST}` }], status: 'affected', action_statement: 'Upgrade openssl.' }],
    });
    await importVexDocument(triage, document, 'OWN');
    const result = await runSuppressionAudit(triage);

    expect(result.rules[0]?.outcome).toBe('REOPENED');
    expect(result.rules[0]?.reasons[0]).toMatch(/VEX now says affected/);
    expect((await triage.store.triage.getRule(rule.id))?.state).toBe('REVOKED');
    expect((await currentFinding(triage)).suppression).toBeUndefined();
  });

  it('reopens when the code becomes reachable', async () => {
    const { triage } = await prepared();
    const finding = await currentFinding(triage);
    await triage.store.putFindings([{ ...finding, reachability: { status: 'REACHABLE', method: 'ELF', evidence: ['/usr/bin/api → libssl.so.3 → openssl 3.0.7-r0'], analyzedAt: '2026-12-01T12:00:00Z' } }]);
    const result = await runSuppressionAudit(triage);

    expect(result.rules[0]?.reasons[0]).toMatch(/now reachable \(\/usr\/bin\/api → libssl\.so\.3/);
  });

  it('reopens when newly in KEV', async () => {
    const { triage } = await prepared();
    const result = await runSuppressionAudit(triage, { exploitFacts: facts({ kev: { dateAdded: '2026-12-02' } }) });

    expect(result.rules[0]?.outcome).toBe('REOPENED');
    expect(result.rules[0]?.reasons[0]).toMatch(/added to CISA's KEV catalog on 2026-12-02/);
  });

  it('ignores an old KEV entry', async () => {
    const { triage } = await prepared();
    const result = await runSuppressionAudit(triage, { exploitFacts: facts({ kev: { dateAdded: '2023-03-01' } }) });

    expect(result.rules[0]?.outcome).toBe('KEPT');
  });

  it('reopens above the EPSS threshold', async () => {
    const { triage } = await prepared();
    const below = await runSuppressionAudit(triage, { exploitFacts: facts({ epss: { score: DEFAULT_RISK_POLICY.epssReviewThreshold - 0.01 } }) });
    const above = await runSuppressionAudit(triage, { exploitFacts: facts({ epss: { score: 0.93 } }) });

    expect(below.rules[0]?.outcome).toBe('KEPT');
    expect(above.rules[0]?.reasons[0]).toMatch(/EPSS 0\.930 is above the policy threshold 0\.5/);
  });

  it('reopens when severity was raised', async () => {
    const { triage } = await prepared();
    await ingestReport(triage, { report: report('CRITICAL') });
    const result = await runSuppressionAudit(triage);

    expect(result.rules[0]?.reasons[0]).toMatch(/severity raised from MEDIUM to CRITICAL/);
  });

  it('only flags when the policy says so', async () => {
    const { triage, rule } = await prepared();
    await triage.store.triage.putPolicy({ ...DEFAULT_RISK_POLICY, version: 2, reopenFlagged: false });
    const result = await runSuppressionAudit(triage, { exploitFacts: facts({ epss: { score: 0.93 } }) });
    const stored = await triage.store.triage.getRule(rule.id);

    expect(result.rules[0]?.outcome).toBe('FLAGGED');
    expect(stored?.state).toBe('ACTIVE');
    expect(stored?.flagReasons?.[0]).toMatch(/EPSS/);
    expect((await currentFinding(triage)).suppression?.ruleId).toBe(rule.id);
  });
});
