import type { Digest } from '../../digest.ts';
import type { ImageConfig } from '../../image/config.ts';
import { silentLogger, type Logger } from '../../logger.ts';
import { ImageFileSystem } from '../filesystem.ts';
import type { AnalyzedLayer, ContentInspector, ContentSelector } from '../model.ts';
import { ContentStore } from './content-store.ts';
import { openDockerArchive } from './docker-archive.ts';
import { resolveLimits, type LayerLimits } from './limits.ts';
import { openOciLayout } from './oci-layout.ts';
import { readLayer } from './read-layer.ts';
import { openRegistryImage } from './registry-source.ts';
import type { ImageSource, OpenedImage } from './source.ts';

/** Warnings kept per read; the rest are counted, so a layer with a million odd files cannot fill memory. */
const MAX_WARNINGS = 500;

export interface ReadImageOptions {
  inspectors: ContentInspector[];
  /** Files to keep for later reading, fixed or chosen from the image config (for example from the entrypoint). */
  selectors: ContentSelector[] | ((config: ImageConfig) => ContentSelector[]);
  limits?: Partial<LayerLimits>;
  /** Folder under which the private temporary folder is created; defaults to the OS temporary folder. */
  tempRoot?: string;
  logger?: Logger;
}

export interface ImageLayers {
  /** The merged file system with every layer's whiteouts applied. */
  fs: ImageFileSystem;
  /** Undefined for a classic `docker save` archive, which has no manifest. */
  manifestDigest?: Digest;
  /** The config digest. */
  imageId: Digest;
  config: ImageConfig;
  layers: AnalyzedLayer[];
  warnings: string[];
  /** Deletes the private temporary folder with the kept content; fs.read returns nothing afterwards. */
  dispose(): Promise<void>;
}

function openImage(source: ImageSource): Promise<OpenedImage> {
  switch (source.kind) {
    case 'oci-layout':
      return openOciLayout(source.path, source.reference, source.platform);
    case 'docker-archive':
      return openDockerArchive(source.path, source.reference, source.platform);
    case 'registry':
      return openRegistryImage(source.registry, source.repository, source.reference, source.platform);
  }
}

function describeSource(source: ImageSource): string {
  if (source.kind === 'registry') return `${source.repository}:${source.reference}`;
  return source.reference === undefined ? source.path : `${source.path}:${source.reference}`;
}

/**
 * Reads an image's layers into one merged file system, streaming each layer once with bounded
 * memory. Inspectors see every regular file as it passes; files that selectors keep are written
 * to a private temporary folder and read back through fs.read. On any error the folder is
 * deleted and nothing is returned; on success the caller calls dispose() when done.
 */
export async function readImageLayers(source: ImageSource, options: ReadImageOptions): Promise<ImageLayers> {
  const logger = options.logger ?? silentLogger;
  const limits = resolveLimits(options.limits);
  const started = Date.now();

  const image = await openImage(source);
  const selectors = typeof options.selectors === 'function' ? options.selectors(image.config) : options.selectors;
  const imageFields = { image: describeSource(source), manifestDigest: image.manifestDigest, imageId: image.imageId };

  const warnings: string[] = [];
  let dropped = 0;
  const warn = (message: string) => {
    if (warnings.length < MAX_WARNINGS) warnings.push(message);
    else dropped++;
  };

  const store = await ContentStore.create(options.tempRoot);
  const fs = new ImageFileSystem();
  fs.setContentReader((node) => store.read(node));
  const context = { fs, store, inspectors: options.inspectors, selectors, limits, totals: { bytes: 0, entries: 0 }, scratch: { buffer: Buffer.alloc(0) }, warn };

  const layers: AnalyzedLayer[] = [];
  try {
    for (const [index, blob] of image.layers.entries()) {
      const layerStarted = Date.now();
      const layer = await readLayer(blob, index, context);
      layers.push(layer);
      logger.debug('Layer read', { ...imageFields, layerIndex: index, digest: layer.digest, entries: layer.entries, bytes: layer.bytes, durationMs: Date.now() - layerStarted });
    }
    await store.flush();
  } catch (error) {
    logger.warn('Image layers rejected', { ...imageFields, layerIndex: layers.length, error: (error as Error).message });
    await store.dispose();
    throw error;
  }

  if (dropped) warnings.push(`${dropped} more warnings were left out`);
  logger.info('Image layers read', { ...imageFields, layers: layers.length, entries: context.totals.entries, bytes: context.totals.bytes, files: fs.size, warnings: warnings.length, durationMs: Date.now() - started });

  return {
    fs,
    manifestDigest: image.manifestDigest,
    imageId: image.imageId,
    config: image.config,
    layers,
    warnings,
    dispose: () => store.dispose(),
  };
}
