import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';

import { helpUri, toJUnit, toMarkdown, waitForDecision, GateRequestError, type GateResultView } from '@stratum/cli';

/** A FAIL result with one finding whose texts contain every character the formats must escape. */
function awkwardResult(): GateResultView {
  return {
    decision: 'FAIL',
    pendingReason: null,
    reasons: ['1 of 3 findings of team/app fail the policy.'],
    findingsTruncated: false,
    policySource: 'ARGUMENT',
    evaluatedAt: '2026-12-04T12:00:00.000Z',
    policy: { name: 'Block <critical> | "quoted" & more' },
    image: { digest: `sha256:${'a'.repeat(64)}`, imageId: null, repository: 'team/app', tags: ['1.0'], scan: null, baseImage: null },
    summary: { total: 3, failing: 1, bySeverity: [], byOrigin: [], ignored: [{ reason: 'BASE_LAYER', count: 2 }, { reason: 'SUPPRESSED', count: 0 }] },
    findings: [
      {
        rule: 'Rule with <tags> & "quotes" | pipes',
        kev: true,
        epss: 0.42,
        risk: { score: 91.5, tier: 'CRITICAL' },
        finding: {
          id: 'f1',
          vulnerabilityId: 'CVE-2021-44228',
          severity: 'CRITICAL',
          title: 'Log4Shell: `${jndi:ldap://x}` \u0001 lookups',
          primaryUrl: null,
          fixedVersion: '2.17.1',
          origin: 'APPLICATION',
          cvssScore: 10,
          reachability: { status: 'UNKNOWN', evidence: [] },
          package: { name: 'log4j-core', version: '2.14.1', type: 'jar', purl: 'pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1', path: 'app/lib/log4j-core-2.14.1.jar' },
          layer: { index: 3, digest: null, diffId: null, createdBy: 'COPY lib/ /app/lib/ # <&>' },
        },
      },
    ],
  };
}

const target = { repository: 'team/app', tag: '1.0' };

describe('JUnit writer', () => {
  it('escapes XML special characters', () => {
    const xml = toJUnit(awkwardResult(), target, { timedOut: false, timeoutPasses: false });
    const parsed = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '' }).parse(xml);
    const testcase = parsed.testsuites.testsuite.testcase;

    expect(XMLValidator.validate(xml)).toBe(true);
    expect(testcase.failure.message).toBe('CRITICAL CVE-2021-44228 fails rule "Rule with <tags> & "quotes" | pipes" (risk 91.5)');
    expect(testcase.failure['#text']).toContain('COPY lib/ /app/lib/ # <&>');
    expect(xml).not.toContain('\u0001');
  });

  it('reports a pending gate as skipped with timeoutPasses', () => {
    const xml = toJUnit(undefined, { imageDigest: `sha256:${'b'.repeat(64)}` }, { timedOut: true, timeoutPasses: true });
    const suite = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '' }).parse(xml).testsuites.testsuite;

    expect(suite.skipped).toBe('1');
    expect(suite.failures).toBe('0');
  });
});

describe('Markdown writer', () => {
  it('keeps table rows intact', () => {
    const markdown = toMarkdown(awkwardResult(), target, { timedOut: false, timeoutPasses: false });
    const row = markdown.split('\n').find((line) => line.startsWith('| CVE-2021-44228'));

    expect(row).toBe('| CVE-2021-44228 | CRITICAL (KEV) | log4j-core 2.14.1 | 2.17.1 | application 3 | 91.5 | Rule with \\<tags\\> & "quotes" \\| pipes |');
    expect(markdown).toContain('| in base layers (fixed by updating the base image) | 2 |');
    expect(markdown).not.toContain('| suppressed |');
  });

  it('counts one finding in the singular', () => {
    const result = awkwardResult();
    result.summary = { ...result.summary!, total: 1, failing: 1 };

    const markdown = toMarkdown(result, target, { timedOut: false, timeoutPasses: false });

    expect(markdown).toContain('1 failing of 1 finding.');
  });

  it('counts three findings in the plural', () => {
    const markdown = toMarkdown(awkwardResult(), target, { timedOut: false, timeoutPasses: false });

    expect(markdown).toContain('1 failing of 3 findings.');
  });
});

describe('SARIF help links', () => {
  it.each([
    { id: 'CVE-2021-44228', url: null, expected: 'https://nvd.nist.gov/vuln/detail/CVE-2021-44228' },
    { id: 'GHSA-jfh8-c2jp-5v3q', url: null, expected: 'https://github.com/advisories/GHSA-jfh8-c2jp-5v3q' },
    { id: 'RHSA-2023:1441', url: null, expected: 'https://osv.dev/vulnerability/RHSA-2023%3A1441' },
    { id: 'CVE-2021-44228', url: 'https://avd.aquasec.com/nvd/cve-2021-44228', expected: 'https://avd.aquasec.com/nvd/cve-2021-44228' },
    { id: 'CVE-2021-44228', url: 'javascript:alert(1)', expected: 'https://nvd.nist.gov/vuln/detail/CVE-2021-44228' },
  ])('links $id to $expected', ({ id, url, expected }) => {
    expect(helpUri(id, url)).toBe(expected);
  });
});

describe('waitForDecision', () => {
  function fakeTime() {
    let now = 0;
    const sleeps: number[] = [];
    return { now: () => now, sleep: async (ms: number) => void (sleeps.push(ms), (now += ms)), sleeps };
  }
  const pending = { ...awkwardResult(), decision: 'PENDING' as const, pendingReason: 'SCAN_PENDING', reasons: ['Image has no scan yet.'], findings: [], summary: null };

  it('backs off and stops at the deadline', async () => {
    const time = fakeTime();
    const outcome = await waitForDecision(async () => pending, { waitSeconds: 20, now: time.now, sleep: time.sleep });

    expect(outcome.timedOut).toBe(true);
    expect(time.sleeps).toEqual([2000, 3000, 4500, 6750, 3750]);
  });

  it('returns the first decision', async () => {
    const time = fakeTime();
    const answers = [pending, pending, awkwardResult()];
    const outcome = await waitForDecision(async () => answers.shift()!, { waitSeconds: 300, now: time.now, sleep: time.sleep });

    expect(outcome.timedOut).toBe(false);
    expect(outcome.result.decision).toBe('FAIL');
    expect(time.sleeps).toEqual([2000, 3000]);
  });

  it('retries a 503 but not a rejected request', async () => {
    const time = fakeTime();
    const answers: Array<() => GateResultView> = [
      () => {
        throw new GateRequestError('HTTP 503', true);
      },
      () => awkwardResult(),
    ];
    const outcome = await waitForDecision(async () => answers.shift()!(), { waitSeconds: 60, now: time.now, sleep: time.sleep });

    await expect(waitForDecision(async () => Promise.reject(new GateRequestError('Invalid API key')), { waitSeconds: 60, now: time.now, sleep: time.sleep })).rejects.toThrow('Invalid API key');
    expect(outcome.result.decision).toBe('FAIL');
  });

  it('reports no answer as a request error', async () => {
    const time = fakeTime();

    await expect(waitForDecision(async () => Promise.reject(new GateRequestError('HTTP 502', true)), { waitSeconds: 5, now: time.now, sleep: time.sleep })).rejects.toThrow('HTTP 502');
  });
});
