import { z } from 'zod';

import { InvalidInputError } from '../errors.ts';
import type { Cvss, ReportedFinding } from '../finding.ts';
import type { ParsedReport, ReportImage } from '../report.ts';
import { normalizeSeverity } from '../severity.ts';
import { digestSchema, parseWith } from '../validation.ts';
import type { Importer } from './importer.ts';
import {
  ecrImageOf,
  inspectorFindingSchema,
  isCurrentPackageFinding,
  isoDateOf,
  toReportedFindings,
  type InspectorFinding,
} from './inspector2.ts';

const FORMAT = 'ECR';

// Scan states whose findings are complete: COMPLETE for basic scanning, ACTIVE for continuous enhanced scanning.
const FINISHED_SCAN_STATES = ['COMPLETE', 'ACTIVE'];

const optionalString = z
  .string()
  .nullish()
  .transform((value) => value ?? undefined);

// Basic scanning writes epoch seconds, enhanced scanning ISO strings, and the AWS SDK returns Date objects.
const timestampSchema = z
  .union([z.number(), z.string(), z.date()], { error: 'expected epoch seconds, an ISO date string or a Date' })
  .nullish()
  .transform((value) => value ?? undefined);

const attributeSchema = z.object({ key: z.string(), value: optionalString });

const NUMERIC_ATTRIBUTES = ['CVSS2_SCORE', 'CVSS3_SCORE'];
const REQUIRED_ATTRIBUTES = ['package_name', 'package_version'];

/** A basic scanning finding: package and CVSS facts are key/value attributes. */
const basicFindingSchema = z
  .object({
    name: z.string().min(1),
    description: optionalString,
    uri: optionalString,
    severity: optionalString,
    attributes: z
      .array(attributeSchema)
      .nullish()
      .transform((value) => value ?? []),
  })
  .superRefine((finding, context) => {
    for (const key of REQUIRED_ATTRIBUTES) {
      if (finding.attributes.some((attribute) => attribute.key === key && attribute.value)) continue;
      context.addIssue({ code: 'custom', message: `expected a ${key} attribute`, path: ['attributes'], input: finding.attributes });
    }

    finding.attributes.forEach((attribute, index) => {
      if (!NUMERIC_ATTRIBUTES.includes(attribute.key) || !Number.isNaN(Number(attribute.value ?? ''))) return;
      context.addIssue({ code: 'custom', message: `expected ${attribute.key} to be a number`, path: ['attributes', index, 'value'], input: attribute.value });
    });
  });
type BasicFinding = z.infer<typeof basicFindingSchema>;

const pageSchema = z
  .object({
    registryId: optionalString,
    repositoryName: z.string().min(1),
    imageId: z.object({ imageDigest: digestSchema, imageTag: optionalString }),
    imageScanStatus: z.object({ status: optionalString, description: optionalString }).nullish(),
    imageScanFindings: z
      .object({
        imageScanCompletedAt: timestampSchema,
        vulnerabilitySourceUpdatedAt: timestampSchema,
        findingSeverityCounts: z.record(z.string(), z.number()).nullish(),
        // Basic scanning fills `findings` and enhanced scanning fills `enhancedFindings`. The other list is absent.
        findings: z.array(basicFindingSchema).nullish(),
        enhancedFindings: z.array(inspectorFindingSchema).nullish(),
      })
      .nullish(),
    nextToken: optionalString,
  })
  .superRefine((page, context) => {
    const status = page.imageScanStatus?.status;

    if (status !== undefined && !FINISHED_SCAN_STATES.includes(status)) {
      context.addIssue({
        code: 'custom',
        message: `expected a scan state with findings (${FINISHED_SCAN_STATES.join(' or ')}), because a scan in any other state has no findings to import`,
        path: ['imageScanStatus', 'status'],
        input: status,
      });
    } else if (!page.imageScanFindings) {
      context.addIssue({ code: 'custom', message: 'expected the imageScanFindings of a finished scan', path: ['imageScanFindings'], input: undefined });
    }
  });
type EcrPage = z.infer<typeof pageSchema>;

function attributeOf(finding: BasicFinding, key: string): string | undefined {
  return finding.attributes.find((attribute) => attribute.key === key)?.value;
}

/** CVSS v3 when basic scanning gives it, else v2. The version comes from the vector's "CVSS:3.x/" prefix. */
function basicCvss(finding: BasicFinding): Cvss | undefined {
  const v3Score = attributeOf(finding, 'CVSS3_SCORE');
  if (v3Score) {
    const vector = attributeOf(finding, 'CVSS3_VECTOR');
    return { score: Number(v3Score), vector, version: /^CVSS:(3\.\d)\//.exec(vector ?? '')?.[1] ?? '3.0' };
  }

  const v2Score = attributeOf(finding, 'CVSS2_SCORE');
  if (v2Score) return { score: Number(v2Score), vector: attributeOf(finding, 'CVSS2_VECTOR'), version: '2.0' };

  return undefined;
}

/**
 * Converts a basic scanning finding. Basic scanning names neither the package manager nor
 * the layer, so the package type is "unknown" and the finding has no layer.
 */
function basicToReported(finding: BasicFinding): ReportedFinding {
  return {
    vulnerabilityId: finding.name,
    aliases: [],
    severity: normalizeSeverity(finding.severity),
    cvss: basicCvss(finding),
    description: finding.description,
    package: {
      name: attributeOf(finding, 'package_name')!,
      version: attributeOf(finding, 'package_version')!,
      type: 'unknown',
    },
    primaryUrl: finding.uri,
  };
}

function enhancedToReported(findings: InspectorFinding[]): ReportedFinding[] {
  return findings
    .filter(isCurrentPackageFinding)
    .flatMap((finding) => toReportedFindings(finding, ecrImageOf(finding)?.platform));
}

function imageOf(page: EcrPage): ReportImage {
  const enhanced = page.imageScanFindings?.enhancedFindings ?? [];
  const resourceTags = enhanced.flatMap((finding) => ecrImageOf(finding)?.imageTags ?? []);
  const tags = [...(page.imageId.imageTag ? [page.imageId.imageTag] : []), ...resourceTags];

  return {
    manifestDigest: page.imageId.imageDigest,
    repository: page.repositoryName,
    tags: [...new Set(tags)],
  };
}

function isPage(value: unknown): boolean {
  return typeof value === 'object' && value !== null && 'imageScanFindings' in value && ('imageId' in value || 'repositoryName' in value);
}

function pageAt(pages: readonly unknown[], index: number): Record<string, unknown> {
  return pages[index] as Record<string, unknown>;
}

function sumCounts(pages: EcrPage[]): Record<string, number> | undefined {
  const counts = pages.map((page) => page.imageScanFindings?.findingSeverityCounts).filter((count) => count);
  if (counts.length === 0) return undefined;

  const total: Record<string, number> = {};
  for (const count of counts) {
    for (const [severity, value] of Object.entries(count!)) total[severity] = (total[severity] ?? 0) + value;
  }
  return total;
}

/** Throws unless every page is about the image of the first page. */
function assertSameImage(pages: EcrPage[]): void {
  const first = pages[0]!;

  pages.forEach((page, index) => {
    if (page.repositoryName === first.repositoryName && page.imageId.imageDigest === first.imageId.imageDigest) return;

    throw new InvalidInputError(
      `Invalid ${FORMAT} pages at [${index}].imageId.imageDigest: page ${index} is about ${page.repositoryName}@${page.imageId.imageDigest} ` +
        `but page 0 is about ${first.repositoryName}@${first.imageId.imageDigest}. Merge only the pages of one DescribeImageScanFindings request.`,
      { format: FORMAT, path: `[${index}].imageId.imageDigest`, value: page.imageId.imageDigest },
    );
  });
}

/**
 * Merges the pages of one DescribeImageScanFindings request, fetched with nextToken, into one
 * response: the finding lists are concatenated and the severity counts summed. Every page is
 * validated first, and pages about different images are rejected. The result keeps each
 * finding as it was written, so it can be passed to `ecrImporter.parse`.
 */
export function mergeEcrPages(pages: readonly unknown[]): unknown {
  const parsed = parseWith(z.array(pageSchema).min(1, 'expected at least one page'), pages, FORMAT);
  assertSameImage(parsed);

  const rawFindings = (key: 'findings' | 'enhancedFindings'): unknown[] | undefined => {
    const lists = pages.map((_, index) => (pageAt(pages, index).imageScanFindings as Record<string, unknown> | null)?.[key]);
    if (lists.every((list) => list === undefined || list === null)) return undefined;
    return lists.flatMap((list) => (Array.isArray(list) ? list : []));
  };

  const first = pageAt(pages, 0);
  const { nextToken: _nextToken, ...rest } = first;

  return {
    ...rest,
    imageScanFindings: {
      ...(first.imageScanFindings as Record<string, unknown>),
      findingSeverityCounts: sumCounts(parsed),
      findings: rawFindings('findings'),
      enhancedFindings: rawFindings('enhancedFindings'),
    },
  };
}

function detect(document: unknown): boolean {
  if (Array.isArray(document)) return document.length > 0 && document.every(isPage);
  return isPage(document);
}

function parse(document: unknown): ParsedReport {
  const merged = Array.isArray(document) ? mergeEcrPages(document) : document;
  const page = parseWith(pageSchema, merged, FORMAT);

  const scan = page.imageScanFindings;
  const basic = scan?.findings ?? [];
  const enhanced = scan?.enhancedFindings ?? [];
  const findings = [...basic.map(basicToReported), ...enhancedToReported(enhanced)];
  const isEnhanced = scan?.enhancedFindings !== undefined && scan.enhancedFindings !== null;

  return {
    format: 'ECR',
    scanner: { name: isEnhanced ? 'Amazon ECR enhanced scanning' : 'Amazon ECR basic scanning' },
    createdAt: isoDateOf(scan?.imageScanCompletedAt),
    image: imageOf(page),
    findings,
  };
}

/** Amazon ECR DescribeImageScanFindings responses, from basic or enhanced scanning, as one page or a list of pages. */
export const ecrImporter: Importer = { format: 'ECR', detect, parse };
