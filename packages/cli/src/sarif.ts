import { imageName, type GateFindingView, type GateRequestTarget, type GateResultView } from './gate-result.ts';

/** The `$id` of the SARIF 2.1.0 schema in the OASIS SARIF technical committee's repository. */
export const SARIF_SCHEMA_URI = 'https://raw.githubusercontent.com/oasis-tcs/sarif-spec/master/Schemata/sarif-schema-2.1.0.json';

type SarifLevel = 'error' | 'warning' | 'note';

/** CRITICAL and HIGH fail builds in most code-scanning views, MEDIUM warns, the rest are notes. */
export function sarifLevel(severity: string): SarifLevel {
  if (severity === 'CRITICAL' || severity === 'HIGH') return 'error';
  if (severity === 'MEDIUM') return 'warning';
  return 'note';
}

/**
 * Computes the `security-severity` property, which GitHub code scanning reads as a CVSS-like
 * number. GitHub's "SARIF support for code scanning" page maps over 9.0 to critical, 7.0 to 8.9
 * to high, 4.0 to 6.9 to medium and 3.9 or less to low. The CVSS score is used when known, else
 * a value inside the severity's band.
 */
function securitySeverity(severity: string, cvssScore: number | null): string {
  if (cvssScore !== null) return cvssScore.toFixed(1);
  const bySeverity: Record<string, number> = { CRITICAL: 9.5, HIGH: 8.0, MEDIUM: 5.5, LOW: 2.0 };
  return (bySeverity[severity] ?? 0).toFixed(1);
}

/** Picks a page about the vulnerability: the scanner's own link, else the usual database for its id scheme. */
export function helpUri(vulnerabilityId: string, primaryUrl: string | null): string {
  if (primaryUrl && /^https?:\/\//.test(primaryUrl)) return primaryUrl;

  const id = encodeURIComponent(vulnerabilityId);
  if (/^CVE-/i.test(vulnerabilityId)) return `https://nvd.nist.gov/vuln/detail/${id}`;
  if (/^GHSA-/i.test(vulnerabilityId)) return `https://github.com/advisories/${id}`;
  return `https://osv.dev/vulnerability/${id}`;
}

const SEVERITY_ORDER = ['CRITICAL', 'HIGH', 'MEDIUM', 'LOW', 'NEGLIGIBLE', 'UNKNOWN'];
const moreSevere = (a: string, b: string) => (SEVERITY_ORDER.indexOf(a) <= SEVERITY_ORDER.indexOf(b) ? a : b);

function packageLabel(item: GateFindingView): string {
  return `${item.finding.package.name} ${item.finding.package.version}`;
}

/** Names the artifact a code-scanning view shows the result on: the package's file, else its purl, else type/name@version. */
function artifactUri(item: GateFindingView): string {
  const pkg = item.finding.package;
  if (pkg.path) return encodeURI(pkg.path.replace(/^\/+/, ''));
  if (pkg.purl) return encodeURI(decodeURIComponentSafe(pkg.purl));
  return encodeURI(`${pkg.type}/${pkg.name}@${pkg.version}`);
}

function decodeURIComponentSafe(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

function resultMessage(item: GateFindingView, image: string): string {
  const { finding } = item;
  const layer = finding.layer ? ` layer ${finding.layer.index}` : '';
  const fix = finding.fixedVersion ? ` Fixed in ${finding.fixedVersion}.` : ' No fixed version is known.';
  const exploit = `${item.kev ? ' Listed in CISA KEV.' : ''}${item.epss !== null ? ` EPSS ${(item.epss * 100).toFixed(1)}%.` : ''}`;
  return `${finding.vulnerabilityId} (${finding.severity}) in ${packageLabel(item)}, ${finding.origin.toLowerCase()}${layer} of ${image}: fails rule "${item.rule}", risk ${item.risk.score}.${fix}${exploit}`;
}

/**
 * Writes the gate result as a SARIF 2.1.0 log: one rule per vulnerability id, one result per
 * failing finding, located at the package (artifact and logical locations) inside the image.
 * A PASS or PENDING result has no results, and the run's properties contain the decision.
 */
export function toSarif(result: GateResultView | undefined, target: GateRequestTarget, toolVersion: string): string {
  const image = imageName(result, target);
  const findings = result?.findings ?? [];

  const rules = new Map<string, { severity: string; cvss: number | null; title: string | null; url: string | null }>();
  for (const { finding } of findings) {
    const known = rules.get(finding.vulnerabilityId);
    rules.set(finding.vulnerabilityId, {
      severity: known ? moreSevere(known.severity, finding.severity) : finding.severity,
      cvss: Math.max(known?.cvss ?? -1, finding.cvssScore ?? -1) >= 0 ? Math.max(known?.cvss ?? -1, finding.cvssScore ?? -1) : null,
      title: known?.title ?? finding.title,
      url: known?.url ?? finding.primaryUrl,
    });
  }
  const ruleIds = [...rules.keys()];

  const sarifRules = ruleIds.map((id) => {
    const rule = rules.get(id)!;
    const uri = helpUri(id, rule.url);
    return {
      id,
      name: id.replace(/[^A-Za-z0-9]/g, ''),
      shortDescription: { text: rule.title ?? id },
      fullDescription: { text: rule.title ? `${id}: ${rule.title}` : id },
      helpUri: uri,
      help: { text: `${id} (${rule.severity}). Details: ${uri}`, markdown: `**${id}** (${rule.severity}). Details: [${uri}](${uri})` },
      defaultConfiguration: { level: sarifLevel(rule.severity) },
      properties: { tags: ['security', 'vulnerability', rule.severity.toLowerCase()], 'security-severity': securitySeverity(rule.severity, rule.cvss), precision: 'high' },
    };
  });

  const results = findings.map((item) => {
    const { finding } = item;
    return {
      ruleId: finding.vulnerabilityId,
      ruleIndex: ruleIds.indexOf(finding.vulnerabilityId),
      level: sarifLevel(finding.severity),
      message: { text: resultMessage(item, image) },
      locations: [
        {
          physicalLocation: { artifactLocation: { uri: artifactUri(item) }, region: { startLine: 1 } },
          logicalLocations: [
            { name: packageLabel(item), fullyQualifiedName: finding.package.purl ?? `${finding.package.type}/${finding.package.name}@${finding.package.version}`, kind: 'package' },
            { name: image, kind: 'image' },
          ],
        },
      ],
      partialFingerprints: { 'stratumFinding/v1': `${result?.image?.repository ?? target.repository ?? ''}:${finding.vulnerabilityId}:${finding.package.purl ?? `${finding.package.name}@${finding.package.version}`}` },
      properties: {
        rule: item.rule,
        risk: item.risk.score,
        riskTier: item.risk.tier,
        origin: finding.origin,
        layer: finding.layer ? { index: finding.layer.index, digest: finding.layer.digest, diffId: finding.layer.diffId, createdBy: finding.layer.createdBy } : null,
        reachability: finding.reachability.status,
        reachabilityEvidence: finding.reachability.evidence,
        kev: item.kev,
        epss: item.epss,
        fixedVersion: finding.fixedVersion,
        findingId: finding.id,
      },
    };
  });

  const log = {
    $schema: SARIF_SCHEMA_URI,
    version: '2.1.0',
    runs: [
      {
        tool: { driver: { name: 'stratum-gate', version: toolVersion, semanticVersion: toolVersion, rules: sarifRules } },
        results,
        properties: {
          decision: result?.decision ?? 'PENDING',
          pendingReason: result?.pendingReason ?? null,
          image,
          imageDigest: result?.image?.digest ?? target.imageDigest ?? null,
          policySource: result?.policySource ?? null,
          evaluatedAt: result?.evaluatedAt ?? null,
          failing: result?.summary?.failing ?? 0,
          total: result?.summary?.total ?? 0,
          findingsTruncated: result?.findingsTruncated ?? false,
          ignored: Object.fromEntries((result?.summary?.ignored ?? []).map((row) => [row.reason, row.count])),
        },
      },
    ],
  };
  return `${JSON.stringify(log, null, 2)}\n`;
}

/**
 * Writes the SARIF 2.1.0 log of a run that could not evaluate the gate: no results, and one
 * invocation marked unsuccessful whose error notification carries the message. Code-scanning
 * uploads that run after a failed step then still find a valid file that states the error.
 */
export function toSarifError(message: string, target: GateRequestTarget, toolVersion: string, exitCode: number): string {
  const log = {
    $schema: SARIF_SCHEMA_URI,
    version: '2.1.0',
    runs: [
      {
        tool: { driver: { name: 'stratum-gate', version: toolVersion, semanticVersion: toolVersion, rules: [] } },
        invocations: [
          {
            executionSuccessful: false,
            exitCode,
            toolExecutionNotifications: [{ level: 'error', descriptor: { id: 'gate-not-run' }, message: { text: `The gate could not run: ${message}` } }],
          },
        ],
        results: [],
        properties: { decision: null, image: imageName(undefined, target), error: message },
      },
    ],
  };
  return `${JSON.stringify(log, null, 2)}\n`;
}
