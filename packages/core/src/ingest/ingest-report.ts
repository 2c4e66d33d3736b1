import { createHash } from 'node:crypto';

import { sha256 } from '../digest.ts';
import { InvalidInputError } from '../errors.ts';
import type { Finding, ReportedFinding } from '../finding.ts';
import { resolveLayer, type Image, type Layer } from '../image/model.ts';
import type { ParsedReport } from '../report.ts';
import type { IngestContext } from './context.ts';
import { findExisting, mergeImage, type ImageUpdate } from './image-facts.ts';
import { saveImageFacts, saveScan } from './save-image.ts';

export interface IngestReportInput {
  report: ParsedReport;
  /** Overrides the repository the report names, for example the ECR repository of a CI upload. */
  repository?: string;
  /** The manifest digest, for reports that name only the image ID. */
  digest?: string;
  tags?: string[];
}

export interface IngestResult {
  image: Image;
  findingCount: number;
  /** True when the same report was already the image's current scan, so nothing was rewritten. */
  unchanged: boolean;
}

/**
 * A finding's identity within an image: the same vulnerability in the same package at the same
 * place. The layer is taken as the report names it, so the id stays when the layers become known.
 */
function findingId(finding: ReportedFinding): string {
  const layer = finding.layer?.diffId ?? finding.layer?.digest ?? finding.layer?.hash ?? '';
  const parts = [finding.vulnerabilityId, finding.package.type, finding.package.name, finding.package.version, finding.package.purl ?? '', finding.package.path ?? '', layer];
  return sha256(parts.join('\n')).slice(7, 31);
}

function placeFindings(reported: ReportedFinding[], layers: Layer[], imageKey: string): Omit<Finding, 'scanId'>[] {
  const byId = new Map<string, Omit<Finding, 'scanId'>>();

  for (const finding of reported) {
    const layerIndex = resolveLayer(layers, finding.layer)?.index;
    const id = findingId(finding);
    if (!byId.has(id)) byId.set(id, { ...finding, id, imageKey, layerIndex, origin: 'UNKNOWN' });
  }

  return [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : 1));
}

/** Hashes the placed findings one at a time, so no single string of every finding is built. */
function scanIdOf(imageKey: string, placed: ReadonlyArray<Omit<Finding, 'scanId'>>): string {
  const hash = createHash('sha256').update(`${imageKey}\n`);
  for (const finding of placed) hash.update(JSON.stringify(finding)).update('\n');
  return hash.digest('hex').slice(0, 32);
}

/**
 * Ingests a parsed scan report: merges its facts about the image into the stored image,
 * decides layer origins, and replaces the image's findings with the report's. Ingesting the
 * same report twice leaves the same data, because the scan id is a digest of its content.
 */
export async function ingestReport(context: IngestContext, input: IngestReportInput): Promise<IngestResult> {
  const { report } = input;
  if (input.digest && report.image.manifestDigest && input.digest !== report.image.manifestDigest) {
    throw new InvalidInputError(`The digest ${input.digest} does not match the report's manifest digest ${report.image.manifestDigest}; the report is for another image`, {
      path: 'digest',
      value: input.digest,
    });
  }

  const update: ImageUpdate = {
    manifestDigest: input.digest ?? report.image.manifestDigest,
    imageId: report.image.imageId,
    repository: input.repository ?? report.image.repository,
    tags: [...(input.tags ?? []), ...report.image.tags],
    manifest: report.image.manifest,
    config: report.image.config,
    diffIds: report.image.diffIds,
    layerDigests: report.image.layerDigests,
  };

  const now = context.clock.now().toISOString();
  const previous = await findExisting(context, update);
  const merged = mergeImage(previous, update, now);
  const placed = placeFindings(report.findings, merged.layers, merged.key);
  const scanId = scanIdOf(merged.key, placed);

  if (previous?.scan?.id === scanId) {
    const image = await saveImageFacts(context, merged, previous);
    context.logger.info('report already ingested', { imageKey: image.key, scanId, findings: placed.length });
    return { image, findingCount: placed.length, unchanged: true };
  }

  const findings: Finding[] = placed.map((finding) => ({ ...finding, scanId }));
  const withScan: Image = {
    ...merged,
    scan: { id: scanId, format: report.format, scanner: report.scanner.name, scannerVersion: report.scanner.version, importedAt: now, findingCount: findings.length, counts: { BASE: {}, APPLICATION: {}, UNKNOWN: {} } },
  };
  const image = await saveScan(context, withScan, findings, previous);

  context.logger.info('ingested scan report', {
    imageKey: image.key,
    scanId,
    format: report.format,
    findings: findings.length,
    unplaced: findings.filter((finding) => finding.layerIndex === undefined).length,
    baseImage: image.baseImage?.name,
    baseMethod: image.baseImage?.method,
  });
  return { image, findingCount: findings.length, unchanged: false };
}

/** Records an image from its manifest and config, as a registry push delivers them. */
export async function recordImage(context: IngestContext, update: ImageUpdate): Promise<Image> {
  const now = context.clock.now().toISOString();
  const previous = await findExisting(context, update);
  const merged = mergeImage(previous, update, now);
  const image = await saveImageFacts(context, merged, previous);

  context.logger.info('recorded image', { imageKey: image.key, repository: image.repository, layers: image.layers.length, baseMethod: image.baseImage?.method });
  return image;
}
