import { sha256 } from '../digest.ts';
import type { Finding } from '../finding.ts';
import type { Image } from '../image/model.ts';
import { normalizeRepository } from './image-identifier.ts';
import type { VexStatus } from './model.ts';

const OPENVEX_CONTEXT = 'https://openvex.dev/ns/v0.2.0';

/** Statuses that an exported document carries. UNDER_INVESTIGATION gives a scanner nothing to act on. */
const EXPORTED: ReadonlySet<VexStatus> = new Set(['NOT_AFFECTED', 'FIXED', 'AFFECTED']);

const OPENVEX_STATUS: Record<VexStatus, string> = {
  NOT_AFFECTED: 'not_affected',
  AFFECTED: 'affected',
  FIXED: 'fixed',
  UNDER_INVESTIGATION: 'under_investigation',
};

/**
 * Names the image as an OCI purl with its digest, the form Trivy and Grype match with `--vex`:
 * `pkg:oci/<name>@sha256%3A…?repository_url=<registry>/<path>`.
 */
export function imagePurl(image: Image): string | undefined {
  const digest = image.digest ?? image.imageId;
  if (!digest) return undefined;

  const name = image.repository ? image.repository.split('/').at(-1)! : 'image';
  const qualifiers = image.repository ? `?repository_url=${encodeURIComponent(normalizeRepository(image.repository)).replaceAll('%2F', '/')}` : '';
  return `pkg:oci/${encodeURIComponent(name)}@${encodeURIComponent(digest)}${qualifiers}`;
}

export interface ExportOptions {
  author: string;
  now: string;
}

/**
 * Builds an OpenVEX 0.2.0 document of the image's current VEX decisions, one statement per
 * vulnerability, status and justification, with the packages as subcomponents of the image.
 * NOTE: an image without decisions gets an empty statements list, which the OpenVEX schema
 * (minItems 1) does not accept.
 */
export function exportOpenVex(image: Image, findings: readonly Finding[], options: ExportOptions): Record<string, unknown> {
  const product = imagePurl(image);
  const groups = new Map<string, { finding: Finding; purls: Set<string> }>();

  for (const finding of findings) {
    const vex = finding.vex;
    if (!vex || !EXPORTED.has(vex.status) || !product) continue;

    const groupKey = JSON.stringify([finding.vulnerabilityId, vex.status, vex.justification ?? '', vex.impactStatement ?? '', vex.actionStatement ?? '']);
    const group = groups.get(groupKey) ?? { finding, purls: new Set<string>() };
    if (finding.package.purl) group.purls.add(finding.package.purl);
    groups.set(groupKey, group);
  }

  const statements = [...groups.values()].map(({ finding, purls }) => {
    const vex = finding.vex!;
    // OpenVEX requires exactly one of justification and impact_statement on not_affected statements.
    const impact = vex.status === 'NOT_AFFECTED' && vex.justification ? undefined : (vex.impactStatement ?? (vex.status === 'NOT_AFFECTED' ? vex.reason : undefined));
    const action = vex.actionStatement ?? (vex.status === 'AFFECTED' ? 'Update the package to a fixed version, or follow the vendor advisory.' : undefined);

    return {
      vulnerability: { name: finding.vulnerabilityId, ...(finding.aliases.length > 0 ? { aliases: finding.aliases } : {}) },
      products: [{ '@id': product, ...(purls.size > 0 ? { subcomponents: [...purls].sort().map((purl) => ({ '@id': purl })) } : {}) }],
      status: OPENVEX_STATUS[vex.status],
      ...(vex.justification ? { justification: vex.justification } : {}),
      ...(impact ? { impact_statement: impact } : {}),
      ...(action ? { action_statement: action } : {}),
      ...(vex.statementTimestamp ? { timestamp: vex.statementTimestamp } : {}),
    };
  });
  statements.sort((a, b) => a.vulnerability.name.localeCompare(b.vulnerability.name));

  const content = sha256(JSON.stringify([product, statements])).slice(7, 23);
  return {
    '@context': OPENVEX_CONTEXT,
    '@id': `urn:stratum:vex:${(image.digest ?? image.key).replace(':', '-')}:${content}`,
    author: options.author,
    timestamp: options.now,
    version: 1,
    tooling: 'Stratum',
    statements,
  };
}
