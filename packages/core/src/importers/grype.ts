import { z } from 'zod';

import { InvalidInputError } from '../errors.ts';
import type { Cvss, ReportedFinding } from '../finding.ts';
import { parseImageConfig } from '../image/config.ts';
import { parseManifest } from '../image/manifest.ts';
import { parseReference } from '../image/reference.ts';
import type { ParsedReport, ReportImage } from '../report.ts';
import { normalizeSeverity } from '../severity.ts';
import { digestSchema, parseWith } from '../validation.ts';
import type { Importer } from './importer.ts';
import { purlType } from './package-type.ts';

const FORMAT = 'Grype JSON';

/** Grype 0.7-era reports carry cvssV2/cvssV3 objects; later ones a cvss list with metrics. */
const cvssListSchema = z.array(
  z.object({
    version: z.string().optional(),
    vector: z.string().optional(),
    source: z.string().optional(),
    type: z.string().optional(),
    // Some entries carry only a vector; they are kept out of scoring rather than rejecting the report.
    metrics: z.object({ baseScore: z.number().optional() }).optional(),
  }),
);
const legacyCvssSchema = z.object({ baseScore: z.number(), vector: z.string().optional() });

const vulnerabilitySchema = z.object({
  id: z.string().min(1),
  severity: z.string().optional(),
  dataSource: z.string().optional(),
  namespace: z.string().optional(),
  description: z.string().optional(),
  cvss: cvssListSchema.nullish(),
  cvssV2: legacyCvssSchema.nullish(),
  cvssV3: legacyCvssSchema.nullish(),
  fix: z.object({ versions: z.array(z.string()).nullish(), state: z.string().optional() }).nullish(),
  fixedInVersion: z.string().nullish(),
});

const matchSchema = z.object({
  vulnerability: vulnerabilitySchema,
  relatedVulnerabilities: z.array(z.object({ id: z.string(), cvss: cvssListSchema.nullish() })).nullish(),
  artifact: z.object({
    name: z.string().min(1),
    version: z.string(),
    type: z.string(),
    purl: z.string().optional(),
    locations: z.array(z.object({ path: z.string(), layerID: digestSchema.optional() })).nullish(),
  }),
});

const reportSchema = z.object({
  matches: z.array(matchSchema),
  source: z
    .object({
      type: z.string(),
      target: z.unknown(),
    })
    .optional(),
  distro: z.object({ name: z.string().optional(), version: z.string().optional() }).optional(),
  descriptor: z.object({ name: z.string().optional(), version: z.string().optional(), timestamp: z.string().optional() }).optional(),
});

const imageTargetSchema = z.object({
  userInput: z.string().optional(),
  imageID: digestSchema.optional(),
  manifestDigest: digestSchema.optional(),
  tags: z.array(z.string()).nullish(),
  repoDigests: z.array(z.string()).nullish(),
  layers: z.array(z.object({ digest: digestSchema, mediaType: z.string().optional(), size: z.number().optional() })).nullish(),
  // Grype writes null when it had no raw manifest or config to embed.
  manifest: z.string().nullish(),
  config: z.string().nullish(),
});

type GrypeMatch = z.infer<typeof matchSchema>;

/** Files that every package installation rewrites: their layer is the last install, not this package's. */
const PACKAGE_DATABASES = [/^\/var\/lib\/dpkg\/status$/, /^\/lib\/apk\/db\/installed$/, /^\/var\/lib\/rpm\//, /^\/usr\/lib\/sysimage\/rpm\//];

function pickCvss(match: GrypeMatch): Cvss | undefined {
  const vulnerability = match.vulnerability;
  const list = [...(vulnerability.cvss ?? []), ...(match.relatedVulnerabilities ?? []).flatMap((related) => related.cvss ?? [])].filter(
    (entry): entry is typeof entry & { metrics: { baseScore: number } } => entry.metrics?.baseScore !== undefined,
  );
  const ranked = [...list].sort((a, b) => Number(b.version ?? 0) - Number(a.version ?? 0) || Number(a.type !== 'Primary') - Number(b.type !== 'Primary'));
  const best = ranked[0];
  if (best) return { score: best.metrics.baseScore, vector: best.vector, version: best.version, source: best.source };

  if (vulnerability.cvssV3) return { score: vulnerability.cvssV3.baseScore, vector: vulnerability.cvssV3.vector, version: '3' };
  if (vulnerability.cvssV2) return { score: vulnerability.cvssV2.baseScore, vector: vulnerability.cvssV2.vector, version: '2.0' };
  return undefined;
}

/**
 * Picks the layer that introduced the package. Grype reports the squashed view, so the package
 * database's location points at the last layer that installed anything; the package's own
 * files (dpkg md5sums, copyright) point at the layer that installed this package. The earliest
 * such layer in the image's order wins; package databases count only when nothing else is listed.
 */
function introducingLayer(match: GrypeMatch, layerOrder: Map<string, number>): string | undefined {
  const locations = (match.artifact.locations ?? []).filter((location) => location.layerID);
  const ownFiles = locations.filter((location) => !PACKAGE_DATABASES.some((pattern) => pattern.test(location.path)));
  const candidates = (ownFiles.length > 0 ? ownFiles : locations).map((location) => location.layerID!);
  if (candidates.length === 0) return undefined;

  return candidates.reduce((earliest, layer) => ((layerOrder.get(layer) ?? Infinity) < (layerOrder.get(earliest) ?? Infinity) ? layer : earliest));
}

function toFinding(match: GrypeMatch, layerOrder: Map<string, number>): ReportedFinding {
  const { vulnerability, artifact } = match;
  const cvss = pickCvss(match);
  const fixedVersions = vulnerability.fix?.versions ?? (vulnerability.fixedInVersion ? [vulnerability.fixedInVersion] : []);
  const diffId = introducingLayer(match, layerOrder);
  const aliases = (match.relatedVulnerabilities ?? []).map((related) => related.id).filter((id) => id !== vulnerability.id);
  const ownFile = artifact.locations?.find((location) => !PACKAGE_DATABASES.some((pattern) => pattern.test(location.path)));

  return {
    vulnerabilityId: vulnerability.id,
    aliases: [...new Set(aliases)],
    severity: normalizeSeverity(vulnerability.severity),
    cvss,
    description: vulnerability.description,
    fixedVersion: fixedVersions.length > 0 ? fixedVersions.join(', ') : undefined,
    package: {
      name: artifact.name,
      version: artifact.version,
      type: purlType(artifact.purl) ?? artifact.type.toLowerCase(),
      purl: artifact.purl || undefined,
      path: ['deb', 'apk', 'rpm'].includes(artifact.type) ? undefined : ownFile?.path,
    },
    layer: diffId ? { diffId } : undefined,
    dataSource: vulnerability.namespace ?? vulnerability.dataSource,
  };
}

function decodeEmbedded(value: string | null | undefined, what: string): unknown {
  if (!value) return undefined;

  try {
    return JSON.parse(Buffer.from(value, 'base64').toString('utf8'));
  } catch (error) {
    throw new InvalidInputError(`Invalid ${FORMAT} document at source.target.${what}: expected base64-encoded JSON`, { format: FORMAT, path: `source.target.${what}` }, { cause: error });
  }
}

function imageOf(source: z.infer<typeof reportSchema>['source']): ReportImage {
  if (!source || source.type !== 'image') return { tags: [] };

  const target = parseWith(imageTargetSchema, source.target, `${FORMAT} source.target`);
  const manifestJson = decodeEmbedded(target.manifest, 'manifest');
  const configJson = decodeEmbedded(target.config, 'config');
  const references = [...(target.repoDigests ?? []), ...(target.tags ?? [])].map(parseReference);

  return {
    manifestDigest: target.manifestDigest,
    imageId: target.imageID,
    repository: references[0]?.repository,
    tags: (target.tags ?? []).map((tag) => parseReference(tag).tag).filter((tag): tag is string => Boolean(tag)),
    // Grype lists layers by their diff_id, as its image library reads them.
    diffIds: target.layers?.map((layer) => layer.digest),
    manifest: manifestJson === undefined ? undefined : parseManifest(manifestJson),
    config: configJson === undefined ? undefined : parseImageConfig(configJson),
  };
}

export const grypeImporter: Importer = {
  format: 'GRYPE',

  detect(document) {
    const body = document as Record<string, unknown> | null;
    return body !== null && typeof body === 'object' && !Array.isArray(body) && Array.isArray(body.matches);
  },

  parse(document): ParsedReport {
    const report = parseWith(reportSchema, document, FORMAT);
    const image = imageOf(report.source);
    const order = new Map((image.config?.rootfs.diff_ids ?? image.diffIds ?? []).map((diffId, index) => [diffId, index]));

    if (report.distro?.name) image.os = { family: report.distro.name, name: report.distro.version };

    return {
      format: 'GRYPE',
      scanner: { name: report.descriptor?.name ?? 'grype', version: report.descriptor?.version },
      createdAt: report.descriptor?.timestamp,
      image,
      findings: report.matches.map((match) => toFinding(match, order)),
    };
  },
};
