import { PackageURL } from 'packageurl-js';
import { z } from 'zod';

import { isDigest, type Digest } from '../digest.ts';
import { InvalidInputError } from '../errors.ts';
import type { Cvss, FindingPackage, LayerReference, ReportedFinding } from '../finding.ts';
import { parseReference } from '../image/reference.ts';
import type { ParsedReport, ReportImage } from '../report.ts';
import { normalizeSeverity, severityFromCvss, type Severity } from '../severity.ts';
import { parseWith } from '../validation.ts';
import type { Importer } from './importer.ts';
import { osPackageType } from './package-type.ts';

const FORMAT = 'CycloneDX';

// Component properties written by Trivy (aquasecurity:trivy:*) and syft (syft:*).
const TRIVY_LAYER_DIFF_ID = 'aquasecurity:trivy:LayerDiffID';
const TRIVY_LAYER_DIGEST = 'aquasecurity:trivy:LayerDigest';
const TRIVY_IMAGE_ID = 'aquasecurity:trivy:ImageID';
const TRIVY_DIFF_ID = 'aquasecurity:trivy:DiffID';
const TRIVY_REPO_DIGEST = 'aquasecurity:trivy:RepoDigest';
const TRIVY_REPO_TAG = 'aquasecurity:trivy:RepoTag';
const TRIVY_PKG_TYPE = 'aquasecurity:trivy:PkgType';
const TRIVY_FILE_PATH = 'aquasecurity:trivy:FilePath';
const SYFT_LAYER_ID = 'syft:location:0:layerID';
const SYFT_PATH = 'syft:location:0:path';

const DIGEST_PROPERTIES = new Set([TRIVY_LAYER_DIFF_ID, TRIVY_LAYER_DIGEST, TRIVY_IMAGE_ID, TRIVY_DIFF_ID, SYFT_LAYER_ID]);
const DIGEST_EXPECTATION = 'expected a digest such as sha256:<64 lowercase hex characters>';

/** A BOM-Link to a component: `urn:cdx:<serial number>/<version>#<url-encoded bom-ref>`. */
const BOM_LINK = /^urn:cdx:[^/]+\/\d+#(.+)$/;

const optionalString = z
  .string()
  .nullish()
  .transform((value) => value ?? undefined);

function optionalList<T extends z.ZodType>(item: T) {
  return z
    .array(item)
    .nullish()
    .transform((value) => value ?? []);
}

const propertySchema = z.object({ name: z.string(), value: optionalString });

/** Checks the digest-valued properties, so a malformed layer or image digest is reported at its path. */
function checkDigestProperties(properties: Array<z.infer<typeof propertySchema>>, context: z.RefinementCtx): void {
  properties.forEach((property, index) => {
    const value = property.value;
    const path = ['properties', index, 'value'];

    if (DIGEST_PROPERTIES.has(property.name) && !isDigest(value)) {
      context.addIssue({ code: 'custom', message: DIGEST_EXPECTATION, path, input: value });
    }
    if (property.name === TRIVY_REPO_DIGEST && !isDigest(parseReference(value ?? '').digest)) {
      context.addIssue({ code: 'custom', message: 'expected repository@digest such as ubuntu@sha256:<64 lowercase hex characters>', path, input: value });
    }
  });
}

const componentSchema = z
  .object({
    'bom-ref': optionalString,
    type: optionalString,
    group: optionalString,
    name: z.string().min(1),
    version: optionalString,
    purl: optionalString,
    properties: optionalList(propertySchema),
  })
  .superRefine((component, context) => checkDigestProperties(component.properties, context));
type Component = z.infer<typeof componentSchema>;

const ratingSchema = z.object({
  source: z.object({ name: optionalString }).nullish(),
  score: z.number().nullish(),
  severity: optionalString,
  method: optionalString,
  vector: optionalString,
});
type Rating = z.infer<typeof ratingSchema>;

const vulnerabilitySchema = z.object({
  id: z.string().min(1),
  source: z.object({ name: optionalString, url: optionalString }).nullish(),
  references: optionalList(z.object({ id: z.string().min(1) })),
  ratings: optionalList(ratingSchema),
  description: optionalString,
  detail: optionalString,
  recommendation: optionalString,
  advisories: optionalList(z.object({ url: optionalString })),
  affects: optionalList(
    z.object({
      ref: z.string().min(1),
      versions: optionalList(z.object({ version: optionalString, range: optionalString, status: optionalString })),
    }),
  ),
});
type Vulnerability = z.infer<typeof vulnerabilitySchema>;

const toolSchema = z.object({ vendor: optionalString, group: optionalString, name: optionalString, version: optionalString });

// CycloneDX 1.4 lists tools as an array. CycloneDX 1.5 and later use { components, services }.
const toolsSchema = z
  .union([z.array(toolSchema), z.object({ components: optionalList(toolSchema), services: optionalList(toolSchema) })], {
    error: 'expected a list of tools or an object with tool components and services',
  })
  .nullish();

const bomSchema = z.object({
  bomFormat: z.literal('CycloneDX'),
  specVersion: optionalString,
  serialNumber: optionalString,
  metadata: z
    .object({
      timestamp: optionalString,
      tools: toolsSchema,
      component: componentSchema.nullish(),
    })
    .nullish(),
  components: optionalList(componentSchema),
  vulnerabilities: optionalList(vulnerabilitySchema),
});
type Bom = z.infer<typeof bomSchema>;

function propertyValue(component: Component, name: string): string | undefined {
  return component.properties.find((property) => property.name === name)?.value;
}

function propertyValues(component: Component, name: string): string[] {
  return component.properties.filter((property) => property.name === name).flatMap((property) => (property.value ? [property.value] : []));
}

function parsePurl(value: string | undefined): PackageURL | undefined {
  if (!value?.startsWith('pkg:')) return undefined;

  try {
    return PackageURL.fromString(value);
  } catch {
    return undefined;
  }
}

/**
 * Returns the package type: Trivy's PkgType (an OS family such as "ubuntu" becomes its package
 * type "deb"), else the purl type ("alpine" from older syft becomes "apk"), else "unknown".
 */
function packageTypeOf(component: Component, purl: PackageURL | undefined): string {
  const trivyType = propertyValue(component, TRIVY_PKG_TYPE);
  if (trivyType) return osPackageType(trivyType) ?? trivyType;

  const syftType = propertyValue(component, 'syft:package:type');
  if (!purl && syftType) return syftType.toLowerCase();

  if (purl) return osPackageType(purl.type) ?? purl.type;
  return 'unknown';
}

/** Returns the component's version with the purl's epoch qualifier in front, as dpkg and rpm print it. */
function versionOf(component: Component, purl: PackageURL | undefined): string {
  const version = component.version ?? purl?.version ?? '';
  const epoch = purl?.qualifiers?.epoch;
  if (!epoch || epoch === '0' || version.includes(':')) return version;
  return `${epoch}:${version}`;
}

/** Returns the package name as scanners print it: "group:artifact" for Maven, "group/name" otherwise. */
function nameOf(component: Component, purl: PackageURL | undefined): string {
  if (!component.group) return component.name;
  return purl?.type === 'maven' ? `${component.group}:${component.name}` : `${component.group}/${component.name}`;
}

const OS_PACKAGE_TYPES = new Set(['apk', 'deb', 'rpm']);

function packageOf(component: Component): FindingPackage {
  const purl = parsePurl(component.purl ?? component['bom-ref']);
  const type = packageTypeOf(component, purl);
  const syftPath = OS_PACKAGE_TYPES.has(type) ? undefined : propertyValue(component, SYFT_PATH);

  return {
    name: nameOf(component, purl),
    version: versionOf(component, purl),
    type,
    purl: component.purl ?? purl?.toString(),
    path: propertyValue(component, TRIVY_FILE_PATH) ?? syftPath,
  };
}

/** Reads the layer: Trivy names it by digest and diff_id, and syft's layerID is a diff_id. */
function layerOf(component: Component): LayerReference | undefined {
  const diffId = propertyValue(component, TRIVY_LAYER_DIFF_ID) ?? propertyValue(component, SYFT_LAYER_ID);
  const digest = propertyValue(component, TRIVY_LAYER_DIGEST);
  if (!diffId && !digest) return undefined;
  return { diffId, digest };
}

const METHOD_RANK: Record<string, number> = { CVSSv4: 0, CVSSv31: 1, CVSSv3: 2, CVSSv2: 3 };

function methodRank(rating: Rating): number {
  return METHOD_RANK[rating.method ?? ''] ?? 4;
}

function isCvssRating(rating: Rating): rating is Rating & { score: number } {
  const cvssMethod = rating.method !== undefined && rating.method in METHOD_RANK;
  return typeof rating.score === 'number' && (cvssMethod || /^CVSS:/.test(rating.vector ?? ''));
}

function sourceOf(rating: Rating): string | undefined {
  return rating.source?.name?.toLowerCase();
}

/**
 * Picks the severity: the rating from the vulnerability's own source, else NVD's, else the
 * maximum CVSS score, else the first rating with a known severity. Within one source the
 * newest CVSS method wins, because Trivy writes one rating per method.
 */
function severityOf(vulnerability: Vulnerability): Severity {
  const ratings = [...vulnerability.ratings].sort((a, b) => methodRank(a) - methodRank(b));
  const known = ratings.filter((rating) => normalizeSeverity(rating.severity) !== 'UNKNOWN');

  for (const source of [vulnerability.source?.name?.toLowerCase(), 'nvd']) {
    const rating = source ? known.find((candidate) => sourceOf(candidate) === source) : undefined;
    if (rating) return normalizeSeverity(rating.severity);
  }

  // A producer that names no source on any rating (Grype) states its own severity: use it as is.
  const unsourced = known.filter((rating) => sourceOf(rating) === undefined);
  if (unsourced.length > 0 && unsourced.length === known.length) return normalizeSeverity(unsourced[0]!.severity);

  const scored = ratings.filter(isCvssRating);
  const modern = scored.filter((rating) => methodRank(rating) < METHOD_RANK.CVSSv2!);
  const scores = (modern.length > 0 ? modern : scored).map((rating) => rating.score);
  if (scores.length > 0) return severityFromCvss(Math.max(...scores));

  const first = vulnerability.ratings.find((rating) => normalizeSeverity(rating.severity) !== 'UNKNOWN');
  return normalizeSeverity(first?.severity);
}

function cvssVersionOf(rating: Rating): string | undefined {
  const fromVector = /^CVSS:(\d\.\d)\//.exec(rating.vector ?? '')?.[1];
  if (fromVector) return fromVector;

  const byMethod: Record<string, string> = { CVSSv4: '4.0', CVSSv31: '3.1', CVSSv3: '3.0', CVSSv2: '2.0' };
  return byMethod[rating.method ?? ''];
}

/**
 * Picks the CVSS rating: CVSS v3 and v4 before v2, then the vulnerability's own source, then
 * NVD, then any other source, then the newest method.
 */
function cvssOf(vulnerability: Vulnerability): Cvss | undefined {
  const ownSource = vulnerability.source?.name?.toLowerCase();
  const tier = (rating: Rating): number => (methodRank(rating) < METHOD_RANK.CVSSv2! || /^CVSS:[34]/.test(rating.vector ?? '') ? 0 : 1);
  const sourceRank = (rating: Rating): number => {
    if (ownSource !== undefined && sourceOf(rating) === ownSource) return 0;
    return sourceOf(rating) === 'nvd' ? 1 : 2;
  };

  const best = vulnerability.ratings
    .filter(isCvssRating)
    .sort((a, b) => tier(a) - tier(b) || sourceRank(a) - sourceRank(b) || methodRank(a) - methodRank(b))[0];
  if (!best) return undefined;

  return { score: best.score, vector: best.vector, version: cvssVersionOf(best), source: sourceOf(best) };
}

/**
 * Returns the fixed version: the single version that `affects[].versions` marks unaffected, or
 * Trivy's "Upgrade <package> to version <version>" when it names this package and one version.
 * Trivy lists several versions ("6.0.3.1, 5.2.4.3") when fixes exist on several branches, and
 * picking one would be a guess.
 */
function fixedVersionOf(vulnerability: Vulnerability, affect: Vulnerability['affects'][number], packageName: string): string | undefined {
  const unaffected = [...new Set(affect.versions.filter((entry) => entry.status === 'unaffected' && entry.version).map((entry) => entry.version!))];
  if (unaffected.length === 1) return unaffected[0];
  if (unaffected.length > 1) return undefined;

  // Grype writes the fix as one unaffected range of the form vers:<scheme>/>=<version>.
  const ranges = affect.versions.filter((entry) => entry.status === 'unaffected' && entry.range).map((entry) => /^vers:[a-z0-9.+-]+\/>=([^|<>=!]+)$/i.exec(entry.range!.trim())?.[1]);
  if (ranges.length === 1 && ranges[0]) return ranges[0];

  const match = /^Upgrade (\S+) to version (.+)$/.exec(vulnerability.recommendation?.trim() ?? '');
  if (!match || match[1] !== packageName) return undefined;

  const version = match[2]!.trim();
  return version.includes(',') || version.includes(' ') ? undefined : version;
}

// Purl types whose namespace is part of the package name. For deb, rpm and apk the namespace is the vendor.
const NAMESPACED_NAME_TYPES = new Set(['maven', 'npm', 'golang', 'composer', 'swift', 'github', 'gitlab', 'bitbucket']);

/** Returns the bom-ref a reference points at, decoding the fragment of a BOM-Link. */
function bomRefOf(ref: string): string {
  const link = BOM_LINK.exec(ref);
  if (!link) return ref;

  try {
    return decodeURIComponent(link[1]!);
  } catch {
    return link[1]!;
  }
}

/**
 * Finds the component an `affects` entry points at. A bom-ref that matches no component but
 * is a package URL still names the package, so a component without a layer is built from it.
 */
function resolveComponent(components: Map<string, Component>, ref: string, path: string): Component {
  const bomRef = bomRefOf(ref);
  const component = components.get(bomRef);
  if (component) return component;

  const purl = parsePurl(bomRef);
  if (purl) {
    const group = NAMESPACED_NAME_TYPES.has(purl.type) ? purl.namespace : undefined;
    return { 'bom-ref': bomRef, type: 'library', name: purl.name, group, version: purl.version, purl: bomRef, properties: [] };
  }

  throw new InvalidInputError(
    `Invalid ${FORMAT} document at ${path}: no component has the bom-ref ${JSON.stringify(bomRef)} and it is not a package URL, so the affected package is unknown`,
    { format: FORMAT, path, value: ref },
  );
}

function componentIndex(bom: Bom): Map<string, Component> {
  const index = new Map<string, Component>();

  for (const component of [...bom.components, ...(bom.metadata?.component ? [bom.metadata.component] : [])]) {
    const bomRef = component['bom-ref'];
    if (bomRef && !index.has(bomRef)) index.set(bomRef, component);
  }

  return index;
}

function toFindings(bom: Bom): ReportedFinding[] {
  const components = componentIndex(bom);
  const findings: ReportedFinding[] = [];

  bom.vulnerabilities.forEach((vulnerability, vulnerabilityIndex) => {
    const severity = severityOf(vulnerability);
    const cvss = cvssOf(vulnerability);
    const aliases = [...new Set(vulnerability.references.map((reference) => reference.id))].filter((id) => id !== vulnerability.id);
    const seen = new Set<string>();

    vulnerability.affects.forEach((affect, affectIndex) => {
      const path = `vulnerabilities[${vulnerabilityIndex}].affects[${affectIndex}].ref`;
      const bomRef = bomRefOf(affect.ref);
      if (seen.has(bomRef)) return;
      seen.add(bomRef);

      const component = resolveComponent(components, affect.ref, path);
      const pkg = packageOf(component);

      findings.push({
        vulnerabilityId: vulnerability.id,
        aliases,
        severity,
        cvss,
        description: vulnerability.description ?? vulnerability.detail,
        fixedVersion: fixedVersionOf(vulnerability, affect, pkg.name),
        package: pkg,
        layer: layerOf(component),
        dataSource: vulnerability.source?.name,
        primaryUrl: vulnerability.advisories.find((advisory) => advisory.url)?.url,
      });
    });
  });

  return findings;
}

/** Reads the manifest digest from a `pkg:oci/<name>@sha256%3A…` purl, whose version is the digest. */
function ociPurlDigest(purl: PackageURL | undefined): Digest | undefined {
  return purl?.type === 'oci' && isDigest(purl.version) ? purl.version : undefined;
}

/**
 * Reads the scanned image from `metadata.component`: Trivy's ImageID, DiffID, RepoDigest and
 * RepoTag properties, the digest of a pkg:oci purl, and syft's convention of writing the
 * manifest digest as the version and the image reference as the name.
 */
function imageOf(bom: Bom): ReportImage {
  const component = bom.metadata?.component;
  if (!component || component.type !== 'container') return { tags: [] };

  const purl = parsePurl(component.purl ?? component['bom-ref']);
  const repoDigest = propertyValues(component, TRIVY_REPO_DIGEST).map(parseReference)[0];
  const repoTags = propertyValues(component, TRIVY_REPO_TAG).map(parseReference);
  const nameReference = parseReference(component.name);
  const namedByReference = nameReference.tag !== undefined || nameReference.digest !== undefined;
  const diffIds = propertyValues(component, TRIVY_DIFF_ID);

  const versionDigest = isDigest(component.version) ? component.version : undefined;
  const manifestDigest = repoDigest?.digest ?? ociPurlDigest(purl) ?? versionDigest;

  const nameRepository = namedByReference ? nameReference.repository : undefined;
  const repository = repoDigest?.repository ?? repoTags[0]?.repository ?? purl?.qualifiers?.repository_url ?? nameRepository;

  let tags = repoTags.map((reference) => reference.tag);
  if (tags.length === 0 && namedByReference) tags = [nameReference.tag];

  return {
    manifestDigest,
    imageId: propertyValue(component, TRIVY_IMAGE_ID),
    repository,
    tags: [...new Set(tags.filter((tag) => tag !== undefined))],
    diffIds: diffIds.length > 0 ? diffIds : undefined,
    os: osOf(bom),
  };
}

function osOf(bom: Bom): ReportImage['os'] {
  const system = bom.components.find((component) => component.type === 'operating-system');
  return system ? { family: system.name, name: system.version } : undefined;
}

function scannerOf(bom: Bom): ParsedReport['scanner'] {
  const tools = bom.metadata?.tools;
  const list = Array.isArray(tools) ? tools : [...(tools?.components ?? []), ...(tools?.services ?? [])];
  const tool = list.find((candidate) => candidate.name);

  return tool ? { name: tool.name!, version: tool.version } : { name: 'unknown' };
}

function detect(document: unknown): boolean {
  return typeof document === 'object' && document !== null && (document as { bomFormat?: unknown }).bomFormat === 'CycloneDX';
}

/**
 * Parses a CycloneDX JSON BOM. A BOM without a `vulnerabilities` section is an SBOM, and it
 * yields the image and no findings.
 */
function parse(document: unknown): ParsedReport {
  const bom = parseWith(bomSchema, document, FORMAT);

  return {
    format: 'CYCLONEDX',
    scanner: scannerOf(bom),
    createdAt: bom.metadata?.timestamp,
    image: imageOf(bom),
    findings: toFindings(bom),
  };
}

/** CycloneDX JSON BOMs (spec 1.4 to 1.7) with vulnerabilities, as written by Trivy, syft and others. */
export const cyclonedxImporter: Importer = { format: 'CYCLONEDX', detect, parse };
