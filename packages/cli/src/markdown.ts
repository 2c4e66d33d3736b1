import { imageName, type GateRequestTarget, type GateResultView } from './gate-result.ts';

/** Maximum rows of the findings table, because pull request comments have a size limit. */
export const MAX_TABLE_ROWS = 50;

const IGNORE_WORDS: Record<string, string> = {
  BASE_LAYER: 'in base layers (fixed by updating the base image)',
  SUPPRESSED: 'suppressed',
  NOT_AFFECTED: 'not affected according to VEX',
  FIXED: 'fixed according to VEX',
  UNREACHABLE: 'unreachable from the entrypoint',
  NO_RULE_MATCHED: 'covered by no rule of the policy',
};

const POLICY_SOURCE_WORDS: Record<string, string> = {
  ARGUMENT: 'from the request',
  WORKFLOWS: "from the tenant's GATE workflows",
  DEFAULT: 'the built-in default',
};

/** Escapes text for a table cell: pipes and newlines would break the row, and backticks or brackets would start markup. */
function cell(value: string): string {
  return value.replace(/[\r\n]+/g, ' ').replace(/([\\|`*_[\]<>])/g, '\\$1');
}

export interface MarkdownOptions {
  timedOut: boolean;
  timeoutPasses: boolean;
}

/**
 * Writes a short Markdown summary for a pull request comment: the decision, the failing
 * findings as a table, and how many findings were ignored for which reason.
 */
export function toMarkdown(result: GateResultView | undefined, target: GateRequestTarget, options: MarkdownOptions): string {
  const image = imageName(result, target);
  const decision = result?.decision ?? 'PENDING';
  const lines: string[] = [];

  let heading: string = decision;
  if (decision === 'PENDING' && options.timedOut) heading = options.timeoutPasses ? 'no decision (timed out, passing as configured)' : 'no decision (timed out)';
  lines.push(`### Stratum gate: ${heading}`, '');
  lines.push(`Image: \`${image.replaceAll('`', '')}\``);
  if (result) lines.push(`Policy: ${policyName(result.policy)} (${POLICY_SOURCE_WORDS[result.policySource] ?? result.policySource}), evaluated at ${result.evaluatedAt}`);
  lines.push('');
  for (const reason of result?.reasons ?? ['The server gave no decision.']) lines.push(`- ${cell(reason)}`);

  if (result && result.findings.length > 0) {
    lines.push('', '| Vulnerability | Severity | Package | Fixed in | Layer | Risk | Rule |', '|---|---|---|---|---|---|---|');
    for (const item of result.findings.slice(0, MAX_TABLE_ROWS)) {
      const { finding } = item;
      const layer = `${finding.origin.toLowerCase()}${finding.layer ? ` ${finding.layer.index}` : ''}`;
      const exploit = item.kev ? ' (KEV)' : '';
      lines.push(
        `| ${cell(finding.vulnerabilityId)} | ${finding.severity}${exploit} | ${cell(`${finding.package.name} ${finding.package.version}`)} | ${cell(finding.fixedVersion ?? 'none')} | ${layer} | ${item.risk.score} | ${cell(item.rule)} |`,
      );
    }
    const more = (result.summary?.failing ?? result.findings.length) - Math.min(result.findings.length, MAX_TABLE_ROWS);
    if (more > 0) lines.push('', `… and ${more} more failing ${more === 1 ? 'finding' : 'findings'}; the SARIF and JUnit reports list up to 1000.`);
  }

  const ignored = (result?.summary?.ignored ?? []).filter((row) => row.count > 0);
  if (ignored.length > 0) {
    lines.push('', '| Ignored | Findings |', '|---|---|');
    for (const row of ignored) lines.push(`| ${IGNORE_WORDS[row.reason] ?? row.reason} | ${row.count} |`);
  }
  if (result?.summary) lines.push('', `${result.summary.failing} failing of ${result.summary.total} ${result.summary.total === 1 ? 'finding' : 'findings'}.`);

  return `${lines.join('\n')}\n`;
}

/** Writes the Markdown summary of a run that could not evaluate the gate, with the cause, so a comment step shows the error. */
export function toMarkdownError(message: string, target: GateRequestTarget): string {
  const image = imageName(undefined, target);
  return [
    '### Stratum gate: could not run',
    '',
    `Image: \`${image.replaceAll('`', '')}\``,
    '',
    `The gate could not run, so no decision was made: ${cell(message)}`,
    '',
  ].join('\n');
}

function policyName(policy: unknown): string {
  const name = (policy as { name?: unknown } | null)?.name;
  return typeof name === 'string' ? `"${cell(name)}"` : 'unnamed';
}
