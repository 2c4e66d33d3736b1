import type { Clock } from '../clock.ts';
import type { Digest } from '../digest.ts';
import type { ImageConfig } from '../image/config.ts';
import type { ImageUpdate } from '../ingest/image-facts.ts';
import type { Logger } from '../logger.ts';
import { readImageLayers } from './layers/index.ts';
import type { AnalyzedPackage, ImageAnalysis, PackageReachability } from './model.ts';
import { packageInspectors, packageSelectors, readPackages } from './packages/index.ts';
import { analyzeReachability, applyRuntimeEvidence, reachabilityInspectors, reachabilitySelectors } from './reachability/index.ts';

// The only module that imports the layer reader, the package readers and the reachability
// analysers, so a change to their entry points is made here and nowhere else.

/** The source of the image: the layer reader's source type, taken as it is. */
export type ImageSource = Parameters<typeof readImageLayers>[0];
type ReaderOptions = Parameters<typeof readImageLayers>[1];
/** Limits on layer size, entry count and decompression ratio; the layer reader's defaults when omitted. */
export type AnalysisLimits = NonNullable<ReaderOptions['limits']>;

export interface AnalyzeImageOptions {
  clock: Clock;
  logger: Logger;
  limits?: AnalysisLimits;
  /** Folder for the reader's private temporary folder; the OS temporary folder when omitted. */
  tempRoot?: string;
}

/** An analysis with the image facts it was read from, so a caller can record the image when no push did. */
export interface AnalyzedImage {
  analysis: ImageAnalysis;
  image: ImageUpdate;
}

/**
 * Reads an image's layers, its installed packages and their reachability from the configured
 * entrypoint. The reader's temporary folder is removed on every path, errors included.
 */
export async function analyzeImageWithFacts(source: ImageSource, options: AnalyzeImageOptions): Promise<AnalyzedImage> {
  const started = Date.now();
  const read = await readImageLayers(source, {
    inspectors: [...packageInspectors, ...reachabilityInspectors],
    // The reachability selectors depend on the entrypoint, which only the config names.
    selectors: (config: ImageConfig) => [...packageSelectors, ...reachabilitySelectors(startConfigOf(config))],
    limits: options.limits,
    tempRoot: options.tempRoot,
    logger: options.logger,
  });

  try {
    const packages = await readPackages(read.fs);
    const reachability = await analyzeReachability({ fs: read.fs, packages: packages.packages, config: startConfigOf(read.config) });

    const imageDigest: Digest = read.manifestDigest ?? read.imageId;
    const analysis: ImageAnalysis = {
      imageDigest,
      imageId: read.imageId,
      analyzedAt: options.clock.now().toISOString(),
      entrypoint: startCommand(read.config),
      layers: read.layers,
      packages: packages.packages,
      reachability: reachability.reachability,
      warnings: [...read.warnings, ...packages.warnings, ...reachability.warnings],
    };

    options.logger.info('analysed image content', {
      imageDigest,
      layers: analysis.layers.length,
      packages: analysis.packages.length,
      warnings: analysis.warnings.length,
      durationMs: Date.now() - started,
    });

    const image: ImageUpdate = {
      manifestDigest: read.manifestDigest,
      imageId: read.imageId,
      config: read.config,
      diffIds: read.config.rootfs.diff_ids,
      layerDigests: layerDigestsOf(read.layers),
    };
    return { analysis, image };
  } finally {
    await read.dispose();
  }
}

/** Reads an image's layers, its installed packages and their reachability; see analyzeImageWithFacts. */
export async function analyzeImage(source: ImageSource, options: AnalyzeImageOptions): Promise<ImageAnalysis> {
  return (await analyzeImageWithFacts(source, options)).analysis;
}

/**
 * Turns the packages that own observed files, or that are named as observed, REACHABLE with
 * method 'runtime', whatever the static verdict was.
 */
export function applyObservedUse(packages: AnalyzedPackage[], reachability: PackageReachability[], observed: { files: string[]; packages: string[] }, at: string): PackageReachability[] {
  return applyRuntimeEvidence(packages, reachability, observed, at);
}

/** Returns the parts of the config that decide what a container starts. */
function startConfigOf(config: ImageConfig): { entrypoint: string[]; cmd: string[]; env: string[]; workingDir: string } {
  const runtime = config.config;
  return { entrypoint: runtime?.Entrypoint ?? [], cmd: runtime?.Cmd ?? [], env: runtime?.Env ?? [], workingDir: runtime?.WorkingDir ?? '' };
}

/** Returns the command a container starts: Entrypoint followed by Cmd, as the config states them. */
function startCommand(config: ImageConfig): string[] {
  return [...(config.config?.Entrypoint ?? []), ...(config.config?.Cmd ?? [])];
}

/** Blob digests of every layer, or none when the source did not name them all (a classic docker save archive). */
function layerDigestsOf(layers: ImageAnalysis['layers']): Digest[] | undefined {
  const digests = layers.map((layer) => layer.digest);
  return digests.every((digest): digest is Digest => digest !== undefined) && digests.length > 0 ? digests : undefined;
}
