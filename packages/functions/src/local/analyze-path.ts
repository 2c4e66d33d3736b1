import { open, stat } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';

import { analyzeImageWithFacts, InvalidInputError, recordImage, storeImageAnalysis, type Clock, type ImageSource, type Logger, type ReachabilityStatus, type TenantStore } from '@stratum/core';

/** The actor of analyses run from a local path, for the audit trail. */
export const LOCAL_ANALYSIS_ACTOR = 'local:analyze';

/** The result that `npm run analyze` prints and `POST /analyze` on the local server returns. */
export interface LocalAnalysisReport {
  imageDigest: string;
  imageId?: string;
  source: 'oci-layout' | 'docker-archive';
  layers: number;
  packages: number;
  counts: Record<ReachabilityStatus, number>;
  warnings: string[];
  findingsUpdated: number;
  /** True when no image record existed, so one was created from the manifest and config. */
  imageCreated: boolean;
}

export interface LocalAnalysisRequest {
  /** An OCI image layout folder or a `docker save` archive; absolute. */
  path: string;
  /** A tag or digest in the layout or archive, when it contains several images. */
  reference?: string;
  /** Repository for the image record, when none exists yet. */
  repository?: string;
}

/** Decides whether a path is an OCI image layout (a folder with an oci-layout file) or a docker save archive (a file). */
export async function detectImageSource(request: LocalAnalysisRequest): Promise<ImageSource> {
  if (!isAbsolute(request.path)) throw new InvalidInputError(`Invalid path ${JSON.stringify(request.path)}: expected an absolute path`, { path: 'path', value: request.path });

  const found = await stat(request.path).catch(() => undefined);
  if (!found) throw new InvalidInputError(`Image path ${request.path} not found: pass an OCI image layout folder or a docker save archive`, { path: 'path', value: request.path });

  if (found.isFile()) {
    await rejectCompressedArchive(request.path);
    return { kind: 'docker-archive', path: request.path, reference: request.reference };
  }
  if (found.isDirectory() && (await stat(join(request.path, 'oci-layout')).catch(() => undefined))?.isFile()) {
    return { kind: 'oci-layout', path: request.path, reference: request.reference };
  }
  throw new InvalidInputError(`Image path ${request.path} is a folder without an oci-layout file: pass an OCI image layout folder (for example from skopeo copy or umoci) or a docker save archive`, {
    path: 'path',
    value: request.path,
  });
}

/**
 * Analyses an image from a local path into the store, and applies the analysis to the image's
 * current findings. When no image record exists, one is created from the manifest and config,
 * so that later reports for the same digest meet the analysis.
 */
export async function analyzeLocalImage(store: TenantStore, request: LocalAnalysisRequest, dependencies: { clock: Clock; logger: Logger }): Promise<LocalAnalysisReport> {
  const source = await detectImageSource(request);
  const { analysis, image } = await analyzeImageWithFacts(source, dependencies);

  const context = { store, clock: dependencies.clock, logger: dependencies.logger, actor: LOCAL_ANALYSIS_ACTOR };
  const existing = (await store.getImage(analysis.imageDigest)) ?? (analysis.imageId ? await store.getImage(analysis.imageId) : undefined);
  if (!existing) await recordImage(context, { ...image, repository: request.repository });

  const stored = await storeImageAnalysis(context, analysis);
  return {
    imageDigest: analysis.imageDigest,
    imageId: analysis.imageId,
    source: source.kind === 'docker-archive' ? 'docker-archive' : 'oci-layout',
    layers: analysis.layers.length,
    packages: stored.analysis.packages.length,
    counts: stored.analysis.counts,
    warnings: stored.analysis.warnings,
    findingsUpdated: stored.findingsUpdated,
    imageCreated: !existing,
  };
}

/** Formats a report for the terminal, with a query to run in GraphiQL. */
export function formatReport(report: LocalAnalysisReport, graphqlUrl: string, byServer = false): string {
  const lines = [
    `Analysed ${report.source} ${report.imageDigest}${report.imageCreated ? ' (new image record)' : ''}`,
    `  layers:       ${report.layers}`,
    `  packages:     ${report.packages}`,
    `  REACHABLE:    ${report.counts.REACHABLE}`,
    `  UNREACHABLE:  ${report.counts.UNREACHABLE}`,
    `  UNKNOWN:      ${report.counts.UNKNOWN}`,
    `  findings updated: ${report.findingsUpdated}`,
  ];
  if (report.warnings.length > 0) lines.push(`  warnings (${report.warnings.length}):`, ...report.warnings.slice(0, 20).map((warning) => `    - ${warning}`));
  if (report.warnings.length > 20) lines.push(`    … ${report.warnings.length - 20} more in imageAnalysis { warnings }`);

  lines.push(
    '',
    byServer ? `Analysed by the running server; query it in GraphiQL (${graphqlUrl}):` : `Query it in GraphiQL (${graphqlUrl}) once npm start runs:`,
    '',
    `  { imageAnalysis(imageDigest: "${report.imageDigest}") { analyzedAt counts { reachable unreachable unknown }`,
    '      packages(first: 20) { edges { node { name version type layerIndex reachability { status method evidence } } } } } }',
  );
  return lines.join('\n');
}

/**
 * `docker save | gzip` is a common way to move images, but the archive is read in place and
 * needs random access, so a compressed one is refused with the command that fixes it.
 */
async function rejectCompressedArchive(path: string): Promise<void> {
  const handle = await open(path, 'r');
  const head = Buffer.alloc(4);
  try {
    await handle.read(head, 0, 4, 0);
  } finally {
    await handle.close();
  }

  const gzip = head[0] === 0x1f && head[1] === 0x8b;
  const zstd = head.readUInt32LE(0) === 0xfd2fb528;
  if (!gzip && !zstd) return;
  const tool = gzip ? 'gunzip -k' : 'zstd -d';
  throw new InvalidInputError(`Image archive ${path} is ${gzip ? 'gzip' : 'zstd'}-compressed: decompress it first (${tool} ${path}) and pass the .tar`, { path: 'path', value: path });
}
