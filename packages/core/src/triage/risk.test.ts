import { describe, expect, it } from 'vitest';

import type { Finding } from '../finding.ts';
import { DEFAULT_RISK_POLICY } from './policy.ts';
import { assessRisk, isActionable } from './risk.ts';

const NOW = new Date('2026-12-01T12:00:00Z');

function finding(overrides: Partial<Finding> = {}): Finding {
  return {
    id: 'f1',
    imageKey: 'k',
    scanId: 's',
    vulnerabilityId: 'CVE-2021-44228',
    aliases: [],
    severity: 'CRITICAL',
    cvss: { score: 10, version: '3.1' },
    package: { name: 'log4j-core', version: '2.14.1', type: 'maven' },
    origin: 'APPLICATION',
    ...overrides,
  };
}

const vex = (status: 'NOT_AFFECTED' | 'FIXED' | 'AFFECTED' | 'UNDER_INVESTIGATION') => ({
  status,
  documentId: 'd',
  documentKey: 'k',
  statementIndex: 0,
  matchedBy: 'IMAGE' as const,
  product: 'p',
  reason: `Vendor states ${status}.`,
});

describe('risk assessment', () => {
  it.each<[string, Partial<Finding>, boolean]>([
    ['an open finding', {}, true],
    ['a suppressed finding', { suppression: { ruleId: 'r', reason: 'RISK_ACCEPTED', expiresAt: '2027-01-01T00:00:00Z', appliedAt: '2026-11-01T00:00:00Z' } }, false],
    ['an expired suppression', { suppression: { ruleId: 'r', reason: 'RISK_ACCEPTED', expiresAt: '2026-11-30T00:00:00Z', appliedAt: '2026-11-01T00:00:00Z' } }, true],
    ['a suppression without expiry', { suppression: { ruleId: 'r', reason: 'FALSE_POSITIVE', appliedAt: '2026-11-01T00:00:00Z' } }, false],
    ['VEX not affected', { vex: vex('NOT_AFFECTED') }, false],
    ['VEX fixed', { vex: vex('FIXED') }, false],
    ['VEX affected', { vex: vex('AFFECTED') }, true],
    ['VEX under investigation', { vex: vex('UNDER_INVESTIGATION') }, true],
    ['unreachable with evidence', { reachability: { status: 'UNREACHABLE', method: 'ELF', evidence: ['no binary links liblog4j'], analyzedAt: '2026-11-01T00:00:00Z' } }, false],
    ['unreachable without evidence', { reachability: { status: 'UNREACHABLE', method: 'ELF', evidence: [], analyzedAt: '2026-11-01T00:00:00Z' } }, true],
    ['unknown reachability', { reachability: { status: 'UNKNOWN', method: 'shell entrypoint', evidence: [], analyzedAt: '2026-11-01T00:00:00Z' } }, true],
  ])('%s', (_name, overrides, actionable) => {
    const target = finding(overrides);

    expect(isActionable(target, NOW)).toBe(actionable);
    expect(assessRisk(target, {}, DEFAULT_RISK_POLICY, NOW).actionable).toBe(actionable);
  });

  it('needs exploit evidence for the top tier', () => {
    const plain = assessRisk(finding(), {}, DEFAULT_RISK_POLICY, NOW);
    const exploited = assessRisk(finding(), { kev: { dateAdded: '2021-12-10', knownRansomwareUse: true }, epss: { score: 0.97, percentile: 0.999 } }, DEFAULT_RISK_POLICY, NOW);

    expect(plain.score).toBe(60);
    expect(plain.tier).toBe('HIGH');
    expect(exploited.tier).toBe('CRITICAL');
    expect(exploited.score).toBe(100);
    expect(exploited.reasons[0]).toBe("Listed in CISA's Known Exploited Vulnerabilities catalog since 2021-12-10, with known ransomware use.");
    expect(exploited.reasons[1]).toBe('EPSS gives a 97.0% probability of exploitation in the next 30 days (percentile 100).');
  });

  it('weighs base layers less', () => {
    const application = assessRisk(finding({ severity: 'HIGH', cvss: undefined }), {}, DEFAULT_RISK_POLICY, NOW);
    const base = assessRisk(finding({ severity: 'HIGH', cvss: undefined, origin: 'BASE' }), {}, DEFAULT_RISK_POLICY, NOW);

    expect(application.score).toBe(45);
    expect(base.score).toBe(36);
  });

  it('puts the suppression reason first', () => {
    const risk = assessRisk(finding({ suppression: { ruleId: 'r1', reason: 'RISK_ACCEPTED', expiresAt: '2027-01-01T00:00:00Z', appliedAt: '2026-11-01T00:00:00Z' } }), {}, DEFAULT_RISK_POLICY, NOW);

    expect(risk.reasons[0]).toBe('Suppressed by rule r1 (risk accepted) until 2027-01-01T00:00:00Z.');
  });
});
