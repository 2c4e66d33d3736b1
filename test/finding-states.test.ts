import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ingestReport, isActionable, isSuppressed, sha256, type Finding, type ParsedReport, type ReportedFinding } from '@stratum/core';

import { startTestStore, type TestStore } from './support/local-store.ts';

const DIGEST = sha256('states-image');

let local: TestStore;

beforeAll(async () => {
  local = await startTestStore();
});

afterAll(async () => {
  await local.close();
});

const vex = (status: 'NOT_AFFECTED' | 'FIXED' | 'AFFECTED') => ({ status, documentId: 'd', documentKey: 'k', statementIndex: 0, matchedBy: 'IMAGE' as const, product: 'p', reason: 'r' });

/** One finding per triage situation; the suffix of each id names it. */
const SITUATIONS: Record<string, Partial<Finding>> = {
  open: {},
  suppressed: { suppression: { ruleId: 'r', reason: 'RISK_ACCEPTED', expiresAt: '2027-06-01T00:00:00Z', appliedAt: '2026-11-01T00:00:00Z' } },
  expired: { suppression: { ruleId: 'r', reason: 'RISK_ACCEPTED', expiresAt: '2026-11-15T00:00:00Z', appliedAt: '2026-11-01T00:00:00Z' } },
  forever: { suppression: { ruleId: 'r', reason: 'FALSE_POSITIVE', appliedAt: '2026-11-01T00:00:00Z' } },
  notAffected: { vex: vex('NOT_AFFECTED') },
  fixed: { vex: vex('FIXED') },
  affected: { vex: vex('AFFECTED') },
  unreachable: { reachability: { status: 'UNREACHABLE', method: 'ELF', evidence: ['no binary loads it'], analyzedAt: '2026-11-01T00:00:00Z' } },
  unreachableNoEvidence: { reachability: { status: 'UNREACHABLE', method: 'ELF', evidence: [], analyzedAt: '2026-11-01T00:00:00Z' } },
};

describe('finding state filters', () => {
  it('agree with isActionable', async () => {
    const context = local.context('states');
    const findings: ReportedFinding[] = Object.keys(SITUATIONS).map((name, i) => ({
      vulnerabilityId: `CVE-2026-${String(1000 + i)}`,
      aliases: [],
      severity: 'HIGH',
      package: { name, version: '1.0', type: 'npm', purl: `pkg:npm/${name.toLowerCase()}@1.0` },
    }));
    const report: ParsedReport = { format: 'TRIVY', scanner: { name: 'trivy' }, image: { manifestDigest: DIGEST, tags: [] }, findings };
    const { image } = await ingestReport(context, { report });

    const stored = await context.store.allFindings(image.scan!.id);
    await context.store.putFindings(stored.map((finding) => ({ ...finding, ...SITUATIONS[finding.package.name] })));
    const all = await context.store.allFindings(image.scan!.id);
    const now = new Date('2026-12-01T00:00:00Z');
    const names = async (filter: object) =>
      (await context.store.listFindings(image, { ...filter, now: now.toISOString() }, { first: 50 })).items.map(({ node }) => node.package.name).sort();
    const expected = (keep: (finding: Finding) => boolean) => all.filter(keep).map((finding) => finding.package.name).sort();

    expect(await names({ actionable: true })).toEqual(expected((finding) => isActionable(finding, now)));
    expect(await names({ actionable: false })).toEqual(expected((finding) => !isActionable(finding, now)));
    expect(await names({ states: ['SUPPRESSED'] })).toEqual(expected((finding) => isSuppressed(finding, now)));
    expect(await names({ states: ['FIXED'] })).toEqual(['fixed']);
    expect(await names({ states: ['OPEN'] })).toEqual(expected((finding) => !isSuppressed(finding, now) && finding.vex?.status !== 'FIXED'));
    expect(await names({ states: ['SUPPRESSED', 'FIXED'] })).toEqual(['fixed', 'forever', 'suppressed']);
  });
});
