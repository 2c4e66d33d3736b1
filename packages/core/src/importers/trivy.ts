import { z } from 'zod';

import type { Cvss, ReportedFinding } from '../finding.ts';
import { isDigest } from '../digest.ts';
import { parseImageConfig, type ImageConfig } from '../image/config.ts';
import { parseReference } from '../image/reference.ts';
import type { ParsedReport, ReportImage } from '../report.ts';
import { normalizeSeverity } from '../severity.ts';
import { digestSchema, parseWith } from '../validation.ts';
import type { Importer } from './importer.ts';
import { osPackageType, purlType } from './package-type.ts';

const FORMAT = 'Trivy JSON';

const cvssEntrySchema = z.object({
  V2Vector: z.string().optional(),
  V3Vector: z.string().optional(),
  V40Vector: z.string().optional(),
  V2Score: z.number().optional(),
  V3Score: z.number().optional(),
  V40Score: z.number().optional(),
});

const vulnerabilitySchema = z.object({
  VulnerabilityID: z.string().min(1),
  VendorIDs: z.array(z.string()).nullish(),
  PkgName: z.string().min(1),
  PkgPath: z.string().optional(),
  PkgIdentifier: z.object({ PURL: z.string().optional() }).optional(),
  InstalledVersion: z.string().default(''),
  FixedVersion: z.string().optional(),
  Layer: z.object({ Digest: digestSchema.optional(), DiffID: digestSchema.optional() }).optional(),
  SeveritySource: z.string().optional(),
  PrimaryURL: z.string().optional(),
  DataSource: z.object({ ID: z.string().optional(), Name: z.string().optional() }).optional(),
  Title: z.string().optional(),
  Description: z.string().optional(),
  Severity: z.string().optional(),
  CVSS: z.record(z.string(), cvssEntrySchema).nullish(),
});

const resultSchema = z.object({
  Target: z.string(),
  Class: z.string().optional(),
  Type: z.string().optional(),
  Vulnerabilities: z.array(vulnerabilitySchema).nullish(),
});

const currentSchema = z.object({
  SchemaVersion: z.literal(2),
  CreatedAt: z.string().optional(),
  ArtifactName: z.string().optional(),
  ArtifactType: z.string().optional(),
  Trivy: z.object({ Version: z.string().optional() }).optional(),
  Metadata: z
    .object({
      OS: z.object({ Family: z.string(), Name: z.string().optional() }).optional(),
      ImageID: digestSchema.optional(),
      DiffIDs: z.array(digestSchema).nullish(),
      RepoTags: z.array(z.string()).nullish(),
      RepoDigests: z.array(z.string()).nullish(),
      ImageConfig: z.unknown().optional(),
      Layers: z.array(z.object({ Digest: digestSchema.optional(), DiffID: digestSchema.optional() })).nullish(),
    })
    .optional(),
  Results: z.array(resultSchema).nullish(),
});

/** Trivy before its schema version 2 wrote a bare list of results. */
const legacySchema = z.array(resultSchema);

type TrivyResult = z.infer<typeof resultSchema>;
type TrivyVulnerability = z.infer<typeof vulnerabilitySchema>;

/** Picks the CVSS of the source Trivy took the severity from, then NVD, then any, newest version first. */
function pickCvss(vulnerability: TrivyVulnerability): Cvss | undefined {
  const entries = vulnerability.CVSS ?? {};
  const order = [vulnerability.SeveritySource, 'nvd', ...Object.keys(entries)].filter((source): source is string => Boolean(source));

  for (const source of order) {
    const entry = entries[source];
    if (!entry) continue;
    if (entry.V40Score !== undefined) return { score: entry.V40Score, vector: entry.V40Vector, version: '4.0', source };
    if (entry.V3Score !== undefined) return { score: entry.V3Score, vector: entry.V3Vector, version: entry.V3Vector?.match(/^CVSS:(3\.[01])/)?.[1] ?? '3', source };
    if (entry.V2Score !== undefined) return { score: entry.V2Score, vector: entry.V2Vector, version: '2.0', source };
  }

  return undefined;
}

function toFinding(result: TrivyResult, vulnerability: TrivyVulnerability, osFamily: string | undefined): ReportedFinding {
  const purl = vulnerability.PkgIdentifier?.PURL;
  const type = purlType(purl) ?? (result.Class === 'os-pkgs' || result.Class === undefined ? osPackageType(result.Type ?? osFamily) : undefined) ?? result.Type ?? 'unknown';
  const layer = vulnerability.Layer && (vulnerability.Layer.Digest || vulnerability.Layer.DiffID)
    ? { digest: vulnerability.Layer.Digest, diffId: vulnerability.Layer.DiffID }
    : undefined;

  return {
    vulnerabilityId: vulnerability.VulnerabilityID,
    aliases: (vulnerability.VendorIDs ?? []).filter((id) => id !== vulnerability.VulnerabilityID),
    severity: normalizeSeverity(vulnerability.Severity),
    cvss: pickCvss(vulnerability),
    title: vulnerability.Title,
    description: vulnerability.Description,
    fixedVersion: vulnerability.FixedVersion || undefined,
    package: {
      name: vulnerability.PkgName,
      version: vulnerability.InstalledVersion,
      type,
      purl,
      path: vulnerability.PkgPath || (result.Class === 'lang-pkgs' ? result.Target : undefined),
    },
    layer,
    dataSource: vulnerability.DataSource?.ID,
    primaryUrl: vulnerability.PrimaryURL,
  };
}

/**
 * Reads Trivy's ImageConfig. Scans of file systems, repositories and configuration files carry
 * an empty placeholder (rootfs.type ""), which is no image config and is skipped.
 */
function parseConfig(value: unknown): ImageConfig | undefined {
  if (value === undefined || value === null) return undefined;
  const rootfsType = (value as { rootfs?: { type?: unknown } }).rootfs?.type;
  if (rootfsType === '' || rootfsType === undefined) return undefined;
  return parseImageConfig(value);
}

/**
 * A scan of a registry image names it; file system and repository scans name no image, and a
 * scan of an image archive names the archive's path, which is no repository either.
 */
function isImageArtifact(type: string | undefined, name: string | undefined): boolean {
  return (type === undefined || type === 'container_image') && !/\.(tar|tar\.gz|tgz)$/.test(name ?? '');
}

function findingsOf(results: TrivyResult[], osFamily: string | undefined): ReportedFinding[] {
  return results.flatMap((result) => (result.Vulnerabilities ?? []).map((vulnerability) => toFinding(result, vulnerability, osFamily)));
}

export const trivyImporter: Importer = {
  format: 'TRIVY',

  detect(document) {
    if (Array.isArray(document)) {
      const first = document[0] as Record<string, unknown> | undefined;
      return first !== undefined && typeof first === 'object' && 'Target' in first;
    }
    const body = document as Record<string, unknown> | null;
    return body !== null && typeof body === 'object' && 'SchemaVersion' in body && ('Results' in body || 'ArtifactName' in body || 'Metadata' in body);
  },

  parse(document): ParsedReport {
    if (Array.isArray(document)) {
      const results = parseWith(legacySchema, document, FORMAT);
      return { format: 'TRIVY', scanner: { name: 'trivy' }, image: { tags: [] }, findings: findingsOf(results, undefined) };
    }

    const report = parseWith(currentSchema, document, FORMAT);
    const metadata = report.Metadata ?? {};
    const repoDigest = metadata.RepoDigests?.[0] ? parseReference(metadata.RepoDigests[0]) : undefined;
    const named = [...(metadata.RepoTags ?? []), ...(isImageArtifact(report.ArtifactType, report.ArtifactName) && report.ArtifactName ? [report.ArtifactName] : [])].map(parseReference);
    const config = parseConfig(metadata.ImageConfig);

    const image: ReportImage = {
      manifestDigest: isDigest(repoDigest?.digest) ? repoDigest.digest : undefined,
      imageId: metadata.ImageID,
      repository: repoDigest?.repository ?? named[0]?.repository,
      tags: (metadata.RepoTags ?? []).map((tag) => parseReference(tag).tag).filter((tag): tag is string => Boolean(tag)),
      diffIds: metadata.DiffIDs ?? config?.rootfs.diff_ids,
      layerDigests: metadata.Layers?.every((layer) => layer.Digest) ? metadata.Layers.map((layer) => layer.Digest!) : undefined,
      config,
      os: metadata.OS ? { family: metadata.OS.Family, name: metadata.OS.Name } : undefined,
    };

    return {
      format: 'TRIVY',
      scanner: { name: 'trivy', version: report.Trivy?.Version },
      createdAt: report.CreatedAt,
      image,
      findings: findingsOf(report.Results ?? [], metadata.OS?.Family),
    };
  },
};
