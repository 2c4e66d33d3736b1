import { describe, expect, it } from 'vitest';

import type { Finding } from '../finding.ts';
import type { Image } from '../image/model.ts';
import { ruleMatches, type SuppressionFilter, type SuppressionRule } from './suppression.ts';

const NOW = new Date('2026-12-01T00:00:00Z');
const image: Image = { key: 'sha256:a', digest: 'sha256:a', repository: 'team/web', tags: [], layers: [], labels: {}, annotations: {}, createdAt: '', updatedAt: '' };
const finding: Finding = {
  id: 'f',
  imageKey: 'sha256:a',
  scanId: 's',
  vulnerabilityId: 'GHSA-xxxx-yyyy-zzzz',
  aliases: ['CVE-2025-1111'],
  severity: 'HIGH',
  package: { name: '@babel/traverse', version: '7.20.0', type: 'npm', purl: 'pkg:npm/%40babel/traverse@7.20.0' },
  origin: 'APPLICATION',
};

function rule(filter: SuppressionFilter, overrides: Partial<SuppressionRule> = {}): SuppressionRule {
  return { id: 'r', filter, scope: { kind: 'REPOSITORY', repository: 'team/web' }, reason: 'RISK_ACCEPTED', comment: 'c', createdBy: 'u', createdAt: '2026-11-01T00:00:00Z', state: 'ACTIVE', appliedCount: 0, policyVersion: 1, ...overrides };
}

describe('suppression rule matching', () => {
  it.each<[string, SuppressionFilter, Partial<SuppressionRule>, boolean]>([
    ['an alias id', { vulnerabilityIds: ['cve-2025-1111'] }, {}, true],
    ['another id', { vulnerabilityIds: ['CVE-2025-2222'] }, {}, false],
    ['a versionless purl', { packagePurls: ['pkg:npm/%40babel/traverse'] }, {}, true],
    ['a purl glob', { packagePurls: ['pkg:npm/@babel/*'] }, {}, true],
    ['a glob of another scope', { packagePurls: ['pkg:npm/@types/*'] }, {}, false],
    ['another version', { packagePurls: ['pkg:npm/%40babel/traverse@7.23.2'] }, {}, false],
    ['the origin', { origins: ['APPLICATION'] }, {}, true],
    ['another origin', { origins: ['BASE'] }, {}, false],
    ['no VEX decision', { vexStatuses: ['NONE'] }, {}, true],
    ['unknown reachability', { reachability: ['UNKNOWN'] }, {}, true],
    ['every field together', { vulnerabilityIds: ['CVE-2025-1111'], severities: ['HIGH'], origins: ['APPLICATION'] }, {}, true],
    ['one field failing', { vulnerabilityIds: ['CVE-2025-1111'], severities: ['LOW'] }, {}, false],
    ['another repository', { severities: ['HIGH'] }, { scope: { kind: 'REPOSITORY', repository: 'team/api' } }, false],
    ['the image scope', { severities: ['HIGH'] }, { scope: { kind: 'IMAGE', imageDigest: 'sha256:a' } }, true],
    ['an expired rule', { severities: ['HIGH'] }, { expiresAt: '2026-11-30T00:00:00Z' }, false],
    ['a revoked rule', { severities: ['HIGH'] }, { state: 'REVOKED' }, false],
  ])('%s', (_name, filter, overrides, expected) => {
    expect(ruleMatches(rule(filter, overrides), image, finding, NOW)).toBe(expected);
  });
});
