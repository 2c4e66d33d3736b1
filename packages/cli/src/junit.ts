import { imageName, type GateRequestTarget, type GateResultView } from './gate-result.ts';

/** Characters XML 1.0 does not allow at all, even escaped: controls other than tab, newline and carriage return. */
const INVALID_XML = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g;

/** Escapes text for an XML attribute value or element content. */
export function escapeXml(value: string): string {
  return value
    .replace(INVALID_XML, '')
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&apos;');
}

export interface JUnitOptions {
  /** The wait ran out while the result was PENDING. */
  timedOut: boolean;
  /** With --timeout-passes a timed-out gate is reported as skipped instead of failed. */
  timeoutPasses: boolean;
}

/**
 * Writes the gate result as JUnit XML, the format CI servers show as test reports: one failed
 * test case per failing finding. A PASS is one passing case, and a gate still PENDING is one
 * failed case (or a skipped one with --timeout-passes), so the report never looks empty.
 */
export function toJUnit(result: GateResultView | undefined, target: GateRequestTarget, options: JUnitOptions): string {
  const image = imageName(result, target);
  const cases: string[] = [];
  let failures = 0;
  let skipped = 0;

  if (result && result.decision !== 'PENDING') {
    for (const item of result.findings) {
      const { finding } = item;
      const name = `${finding.vulnerabilityId} in ${finding.package.name} ${finding.package.version}`;
      const message = `${finding.severity} ${finding.vulnerabilityId} fails rule "${item.rule}" (risk ${item.risk.score})`;
      const details = [
        `Image: ${image}`,
        `Package: ${finding.package.purl ?? `${finding.package.type}/${finding.package.name}@${finding.package.version}`}${finding.package.path ? ` at ${finding.package.path}` : ''}`,
        `Layer: ${finding.origin}${finding.layer ? ` layer ${finding.layer.index}${finding.layer.createdBy ? ` (${finding.layer.createdBy})` : ''}` : ''}`,
        `Reachability: ${finding.reachability.status}${finding.reachability.evidence[0] ? ` (${finding.reachability.evidence[0]})` : ''}`,
        `Fixed in: ${finding.fixedVersion ?? 'no fixed version known'}`,
        ...(finding.title ? [`Title: ${finding.title}`] : []),
        ...(finding.primaryUrl ? [`More: ${finding.primaryUrl}`] : []),
      ].join('\n');
      cases.push(
        `    <testcase classname="stratum-gate.${escapeXml(finding.origin.toLowerCase())}" name="${escapeXml(name)}">\n` +
          `      <failure message="${escapeXml(message)}" type="${escapeXml(finding.severity)}">${escapeXml(details)}</failure>\n` +
          '    </testcase>',
      );
      failures += 1;
    }
    if (result.findingsTruncated) {
      cases.push(
        `    <testcase classname="stratum-gate" name="further failing findings">\n` +
          `      <failure message="${escapeXml(`${result.summary!.failing - result.findings.length} more findings fail the policy than the result lists`)}" type="TRUNCATED"/>\n` +
          '    </testcase>',
      );
      failures += 1;
    }
    if (result.decision === 'PASS') cases.push(`    <testcase classname="stratum-gate" name="${escapeXml(`gate policy for ${image}`)}"/>`);
  } else {
    const explanation = result?.reasons[0] ?? 'the server gave no decision';
    const message = options.timedOut ? `No decision before the wait ran out: ${explanation}` : explanation;
    const outcome = options.timeoutPasses ? `      <skipped message="${escapeXml(message)}"/>\n` : `      <failure message="${escapeXml(message)}" type="PENDING"/>\n`;
    cases.push(`    <testcase classname="stratum-gate" name="${escapeXml(`gate decision for ${image}`)}">\n${outcome}    </testcase>`);
    if (options.timeoutPasses) skipped += 1;
    else failures += 1;
  }

  const timestamp = (result?.evaluatedAt ?? new Date().toISOString()).replace(/\.\d+Z$/, '').replace(/Z$/, '');
  const suiteName = `stratum-gate ${image}`;
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="stratum-gate" tests="${cases.length}" failures="${failures}" errors="0" skipped="${skipped}">`,
    `  <testsuite name="${escapeXml(suiteName)}" tests="${cases.length}" failures="${failures}" errors="0" skipped="${skipped}" timestamp="${escapeXml(timestamp)}">`,
    '    <properties>',
    `      <property name="decision" value="${escapeXml(result?.decision ?? 'PENDING')}"/>`,
    `      <property name="policySource" value="${escapeXml(result?.policySource ?? '')}"/>`,
    '    </properties>',
    ...cases,
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n');
}

/** Writes the JUnit XML of a run that could not evaluate the gate: one test case with an error that names the cause. */
export function toJUnitError(message: string, target: GateRequestTarget, now: Date): string {
  const image = imageName(undefined, target);
  const timestamp = now.toISOString().replace(/\.\d+Z$/, '').replace(/Z$/, '');
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<testsuites name="stratum-gate" tests="1" failures="0" errors="1" skipped="0">',
    `  <testsuite name="${escapeXml(`stratum-gate ${image}`)}" tests="1" failures="0" errors="1" skipped="0" timestamp="${escapeXml(timestamp)}">`,
    `    <testcase classname="stratum-gate" name="${escapeXml(`gate decision for ${image}`)}">`,
    `      <error message="${escapeXml(`The gate could not run: ${message}`)}" type="GATE_ERROR">${escapeXml(message)}</error>`,
    '    </testcase>',
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n');
}
