import { z } from 'zod';

import type { Digest } from '../digest.ts';
import { InvalidInputError } from '../errors.ts';
import type { Cvss, ReportedFinding } from '../finding.ts';
import type { ParsedReport, ReportImage } from '../report.ts';
import { normalizeSeverity, severityFromCvss, type Severity } from '../severity.ts';
import { digestSchema, parseWith } from '../validation.ts';
import type { Importer } from './importer.ts';

const FORMAT = 'Inspector2';
const ECR_IMAGE_RESOURCE = 'AWS_ECR_CONTAINER_IMAGE';
const PACKAGE_VULNERABILITY = 'PACKAGE_VULNERABILITY';
const EVENT_DETAIL_TYPE = 'Inspector2 Finding';

// AWS marks a missing fixed version or remediation with this word instead of omitting the field.
const NOT_AVAILABLE = 'NotAvailable';

/** Accepts a list that real documents sometimes omit or set to null, and reads both as empty. */
function optionalList<T extends z.ZodType>(item: T) {
  return z
    .array(item)
    .nullish()
    .transform((value) => value ?? []);
}

const optionalString = z
  .string()
  .nullish()
  .transform((value) => value ?? undefined);

// The API returns ISO strings with offsets, the console copies "Dec 3, 2021, 6:02:30 PM" and
// the AWS SDK returns Date objects, so dates are only checked for being one of those.
const awsDateSchema = z
  .union([z.string(), z.date()], { error: 'expected a date string' })
  .optional();

const cvssEntrySchema = z.object({
  baseScore: z.number(),
  scoringVector: optionalString,
  source: optionalString,
  version: optionalString,
});

// The CVSS record Inspector based its score on: `adjustedCvss` in Inspector2, `cvss` in ECR.
const scoringCvssSchema = z.object({
  score: z.number(),
  scoreSource: optionalString,
  cvssSource: optionalString,
  scoringVector: optionalString,
  version: optionalString,
});

const vulnerablePackageSchema = z.object({
  name: z.string().min(1),
  version: z.string(),
  release: optionalString,
  epoch: z
    .number()
    .int()
    .nullish()
    .transform((value) => value ?? undefined),
  arch: optionalString,
  packageManager: optionalString,
  filePath: optionalString,
  fixedInVersion: optionalString,
  sourceLayerHash: digestSchema.nullish().transform((value) => value ?? undefined),
});

const packageVulnerabilityDetailsSchema = z.object({
  vulnerabilityId: z.string().min(1),
  source: optionalString,
  sourceUrl: optionalString,
  vendorSeverity: optionalString,
  cvss: optionalList(cvssEntrySchema),
  relatedVulnerabilities: optionalList(z.string()),
  referenceUrls: optionalList(z.string()),
  vulnerablePackages: z.array(vulnerablePackageSchema).min(1, 'expected at least one vulnerable package'),
});

const ecrContainerImageSchema = z.object({
  imageHash: digestSchema,
  repositoryName: optionalString,
  registry: optionalString,
  imageTags: optionalList(z.string()),
  platform: optionalString,
  architecture: optionalString,
  pushedAt: awsDateSchema,
});

const resourceSchema = z
  .object({
    type: z.string().min(1),
    id: optionalString,
    details: z
      .object({ awsEcrContainerImage: ecrContainerImageSchema.optional() })
      .nullish()
      .transform((value) => value ?? undefined),
  })
  .superRefine((resource, context) => {
    if (resource.type !== ECR_IMAGE_RESOURCE || resource.details?.awsEcrContainerImage) return;

    context.addIssue({
      code: 'custom',
      message: `expected the awsEcrContainerImage details of an ${ECR_IMAGE_RESOURCE} resource`,
      path: ['details', 'awsEcrContainerImage'],
      input: undefined,
    });
  });

/**
 * One Inspector finding. ECR's enhanced scanning returns the same shape, so the ECR importer
 * uses this schema too. `resources` comes before the vulnerability details so that an invalid
 * image digest is the first problem reported.
 */
export const inspectorFindingSchema = z
  .object({
    findingArn: optionalString,
    type: z.string().min(1),
    status: optionalString,
    severity: optionalString,
    title: optionalString,
    description: optionalString,
    resources: z.array(resourceSchema).min(1, 'expected at least one resource'),
    packageVulnerabilityDetails: packageVulnerabilityDetailsSchema.optional(),
    inspectorScore: z.number().nullish(),
    inspectorScoreDetails: z.object({ adjustedCvss: scoringCvssSchema.optional() }).nullish(),
    score: z.number().nullish(),
    scoreDetails: z.object({ cvss: scoringCvssSchema.optional() }).nullish(),
    firstObservedAt: awsDateSchema,
    lastObservedAt: awsDateSchema,
    updatedAt: awsDateSchema,
  })
  .superRefine((finding, context) => {
    if (finding.type !== PACKAGE_VULNERABILITY || finding.packageVulnerabilityDetails) return;

    context.addIssue({
      code: 'custom',
      message: `expected packageVulnerabilityDetails on a ${PACKAGE_VULNERABILITY} finding`,
      path: ['packageVulnerabilityDetails'],
      input: undefined,
    });
  });
export type InspectorFinding = z.infer<typeof inspectorFindingSchema>;
export type EcrContainerImage = z.infer<typeof ecrContainerImageSchema>;

const listFindingsSchema = z.object({
  findings: z.array(inspectorFindingSchema),
  nextToken: optionalString,
});

const findingEventSchema = z.object({
  'detail-type': z.literal(EVENT_DETAIL_TYPE),
  source: optionalString,
  time: optionalString,
  detail: inspectorFindingSchema,
});

/** Returns the ECR image a finding is about, or undefined for EC2 instances, Lambda functions and others. */
export function ecrImageOf(finding: InspectorFinding): EcrContainerImage | undefined {
  const resource = finding.resources.find((candidate) => candidate.type === ECR_IMAGE_RESOURCE);
  return resource?.details?.awsEcrContainerImage;
}

/** True for a package vulnerability that is still open: CLOSED and SUPPRESSED findings no longer apply. */
export function isCurrentPackageFinding(finding: InspectorFinding): boolean {
  const status = finding.status ?? 'ACTIVE';
  return finding.type === PACKAGE_VULNERABILITY && status === 'ACTIVE';
}

// Maps AWS package managers to the ecosystem names used across report formats.
const PACKAGE_MANAGER_TYPES: Record<string, string> = {
  NPM: 'npm',
  YARN: 'npm',
  NODEPKG: 'npm',
  PIP: 'python',
  PIPENV: 'python',
  POETRY: 'python',
  PYTHONPKG: 'python',
  JAR: 'jar',
  POM: 'jar',
  GOBINARY: 'gobinary',
  GOMOD: 'gomod',
  BUNDLER: 'gem',
  GEMSPEC: 'gem',
  CARGO: 'cargo',
  COMPOSER: 'composer',
  NUGET: 'nuget',
  DOTNET_CORE: 'nuget',
};

// Platform names as Inspector writes them, for example DEBIAN_12 and AMAZON_LINUX_2.
// NOTE: only those two spellings were checked against real output. The other prefixes assume the same form.
const PLATFORM_PACKAGE_TYPES: ReadonlyArray<{ pattern: RegExp; type: string }> = [
  { pattern: /^(DEBIAN|UBUNTU)/, type: 'deb' },
  { pattern: /^(ALPINE|WOLFI|CHAINGUARD)/, type: 'apk' },
  {
    pattern: /^(AMAZON_LINUX|AL2|RHEL|RED_HAT|CENTOS|ORACLE|ROCKY|ALMA|FEDORA|SUSE|SLES|OPENSUSE|CBL_MARINER|AZURE_LINUX|PHOTON)/,
    type: 'rpm',
  },
];

/**
 * Returns the package type for a package manager. Operating-system packages (`OS`) take the
 * type of the image's platform, and an unknown platform gives "os" rather than a guess.
 */
function packageTypeOf(packageManager: string | undefined, platform: string | undefined): string {
  const manager = packageManager?.toUpperCase();
  if (!manager) return 'unknown';

  if (manager === 'OS') {
    const upperPlatform = platform?.toUpperCase() ?? '';
    return PLATFORM_PACKAGE_TYPES.find(({ pattern }) => pattern.test(upperPlatform))?.type ?? 'os';
  }

  return PACKAGE_MANAGER_TYPES[manager] ?? manager.toLowerCase();
}

/** Joins version and release as the package manager prints them, with the epoch only when it is not 0. */
function packageVersionOf(pkg: { version: string; release?: string; epoch?: number }): string {
  const release = pkg.release ? `-${pkg.release}` : '';
  const epoch = pkg.epoch !== undefined && pkg.epoch > 0 ? `${pkg.epoch}:` : '';
  return `${epoch}${pkg.version}${release}`;
}

/** Returns the fixed version, or undefined for "NotAvailable". A "0:" epoch prefix is dropped to match packageVersionOf. */
function fixedVersionOf(fixedInVersion: string | undefined): string | undefined {
  if (!fixedInVersion || fixedInVersion === NOT_AVAILABLE) return undefined;
  return fixedInVersion.startsWith('0:') ? fixedInVersion.slice(2) : fixedInVersion;
}

/** Lowercases a score source and drops AWS's "_CVE" suffix, so "REDHAT_CVE" becomes "redhat". */
function cvssSourceName(source: string | undefined): string | undefined {
  return source?.toLowerCase().replace(/_cve$/, '');
}

function cvssVersionNumber(version: string | undefined): number {
  return Number.parseFloat(version ?? '') || 0;
}

/**
 * Picks the CVSS record for a finding: the one Inspector scored with, else the listed record
 * with the newest CVSS version, preferring the vulnerability's own source and then NVD.
 */
function cvssOf(finding: InspectorFinding): Cvss | undefined {
  const scoring = finding.inspectorScoreDetails?.adjustedCvss ?? finding.scoreDetails?.cvss;
  if (scoring) {
    return {
      score: scoring.score,
      vector: scoring.scoringVector,
      version: scoring.version,
      source: cvssSourceName(scoring.scoreSource ?? scoring.cvssSource),
    };
  }

  const details = finding.packageVulnerabilityDetails;
  const sourceRank = (source: string | undefined): number => {
    if (source !== undefined && source === details?.source) return 0;
    return source === 'NVD' ? 1 : 2;
  };
  const ranked = [...(details?.cvss ?? [])].sort(
    (a, b) =>
      Math.floor(cvssVersionNumber(b.version)) - Math.floor(cvssVersionNumber(a.version)) ||
      sourceRank(a.source) - sourceRank(b.source) ||
      cvssVersionNumber(b.version) - cvssVersionNumber(a.version),
  );

  const best = ranked[0];
  if (!best) return undefined;
  return { score: best.baseScore, vector: best.scoringVector, version: best.version, source: cvssSourceName(best.source) };
}

/**
 * Returns Inspector's severity. UNTRIAGED and UNDEFINED fall back to the vendor's severity and
 * then to the Inspector score, so that a scored finding is not shown as UNKNOWN.
 */
function severityOf(finding: InspectorFinding): Severity {
  const stated = normalizeSeverity(finding.severity);
  if (stated !== 'UNKNOWN') return stated;

  const vendor = normalizeSeverity(finding.packageVulnerabilityDetails?.vendorSeverity);
  if (vendor !== 'UNKNOWN') return vendor;

  return severityFromCvss(finding.inspectorScore ?? finding.score ?? undefined);
}

/** Converts one package vulnerability finding into one reported finding per vulnerable package. */
export function toReportedFindings(finding: InspectorFinding, platform: string | undefined): ReportedFinding[] {
  const details = finding.packageVulnerabilityDetails;
  if (!details) return [];

  const severity = severityOf(finding);
  const cvss = cvssOf(finding);
  const aliases = [...new Set(details.relatedVulnerabilities)].filter((id) => id !== details.vulnerabilityId);

  return details.vulnerablePackages.map((pkg) => ({
    vulnerabilityId: details.vulnerabilityId,
    aliases,
    severity,
    cvss,
    title: finding.title,
    description: finding.description,
    fixedVersion: fixedVersionOf(pkg.fixedInVersion),
    package: {
      name: pkg.name,
      version: packageVersionOf(pkg),
      type: packageTypeOf(pkg.packageManager, platform),
      path: pkg.filePath,
    },
    layer: pkg.sourceLayerHash ? { hash: pkg.sourceLayerHash } : undefined,
    dataSource: details.source,
    primaryUrl: details.sourceUrl,
  }));
}

/** Returns the repository name, also when a caller copied the repository ARN into it. */
function repositoryNameOf(value: string | undefined): string | undefined {
  if (!value) return undefined;

  const arnMatch = /^arn:aws[\w-]*:ecr:[^:]*:[^:]*:repository\/(.+)$/.exec(value);
  return arnMatch ? arnMatch[1] : value;
}

/** Converts a date to ISO 8601 when it is an ISO string or a Date, and returns undefined for console-style text. */
export function isoDateOf(value: string | Date | number | undefined): string | undefined {
  if (value === undefined) return undefined;

  if (typeof value === 'string' && !/^\d{4}-\d{2}-\d{2}/.test(value)) return undefined;

  const date = typeof value === 'number' ? new Date(value * 1000) : new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}

interface ParsedDocument {
  findings: InspectorFinding[];
  /** The findings as written, in the same order, so that groups keep every field. */
  rawFindings: unknown[];
  /** The event time, or undefined for a ListFindings page. */
  eventTime?: string;
}

function isEvent(document: unknown): document is Record<string, unknown> {
  return typeof document === 'object' && document !== null && 'detail-type' in document;
}

function parseDocument(document: unknown): ParsedDocument {
  if (isEvent(document)) {
    const event = parseWith(findingEventSchema, document, FORMAT);
    return { findings: [event.detail], rawFindings: [document.detail], eventTime: event.time ?? undefined };
  }

  const list = parseWith(listFindingsSchema, document, FORMAT);
  const rawFindings = (document as { findings: unknown[] }).findings;
  return { findings: list.findings, rawFindings };
}

/** Throws when the findings are about more than one image, because one report describes one image. */
function assertOneImage(findings: InspectorFinding[]): void {
  const digests = [...new Set(findings.map((finding) => ecrImageOf(finding)?.imageHash))];
  if (digests.length <= 1) return;

  throw new InvalidInputError(
    `Invalid ${FORMAT} document at findings: the findings are about ${digests.length} ECR images (${digests.join(', ')}). ` +
      'Split the document with groupInspectorFindingsByImage() and import each image separately.',
    { format: FORMAT, path: 'findings', value: digests },
  );
}

function imageOf(findings: InspectorFinding[]): ReportImage {
  const images = findings.map(ecrImageOf).filter((image) => image !== undefined);
  const first = images[0];
  if (!first) return { tags: [] };

  return {
    manifestDigest: first.imageHash,
    repository: repositoryNameOf(images.find((image) => image.repositoryName)?.repositoryName),
    tags: [...new Set(images.flatMap((image) => image.imageTags))],
  };
}

/** Returns the latest ISO `updatedAt` of the findings, used as the report time of a ListFindings page. */
function latestUpdate(findings: InspectorFinding[]): string | undefined {
  const dates = findings.map((finding) => isoDateOf(finding.updatedAt)).filter((date) => date !== undefined);
  return dates.sort().at(-1);
}

function detect(document: unknown): boolean {
  if (typeof document !== 'object' || document === null) return false;

  if (isEvent(document)) return document['detail-type'] === EVENT_DETAIL_TYPE;

  const findings = (document as { findings?: unknown }).findings;
  if (!Array.isArray(findings)) return false;
  return findings.every((finding) => typeof finding === 'object' && finding !== null && 'findingArn' in finding);
}

function parse(document: unknown): ParsedReport {
  const parsed = parseDocument(document);

  const currentFindings = parsed.findings.filter((finding) => isCurrentPackageFinding(finding) && ecrImageOf(finding));
  assertOneImage(currentFindings);

  const image = imageOf(currentFindings);
  const findings = currentFindings.flatMap((finding) => toReportedFindings(finding, ecrImageOf(finding)?.platform));
  const createdAt = parsed.eventTime !== undefined ? isoDateOf(parsed.eventTime) : latestUpdate(currentFindings);

  return { format: 'INSPECTOR2', scanner: { name: 'Amazon Inspector' }, createdAt, image, findings };
}

/** A ListFindings document that contains the findings of one ECR image. */
export interface InspectorImageGroup {
  imageDigest: Digest;
  repository?: string;
  document: { findings: unknown[] };
}

/**
 * Splits a ListFindings page or a finding event into one ListFindings document per ECR image,
 * keeping each finding as it was written. Findings about EC2 instances, Lambda functions and
 * other resources are left out. Each group can then be passed to `inspector2Importer.parse`.
 */
export function groupInspectorFindingsByImage(document: unknown): InspectorImageGroup[] {
  const parsed = parseDocument(document);
  const groups = new Map<Digest, InspectorImageGroup>();

  parsed.findings.forEach((finding, index) => {
    const image = ecrImageOf(finding);
    if (!image) return;

    let group = groups.get(image.imageHash);
    if (!group) {
      group = { imageDigest: image.imageHash, repository: repositoryNameOf(image.repositoryName), document: { findings: [] } };
      groups.set(image.imageHash, group);
    }
    group.document.findings.push(parsed.rawFindings[index]);
  });

  return [...groups.values()];
}

/** Amazon Inspector findings from ListFindings or from an "Inspector2 Finding" EventBridge event. */
export const inspector2Importer: Importer = { format: 'INSPECTOR2', detect, parse };
