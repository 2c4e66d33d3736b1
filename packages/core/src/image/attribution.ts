import type { Digest } from '../digest.ts';
import type { HistoryEntry } from './config.ts';
import { findHistoryBoundary } from './history-boundary.ts';
import type { BaseImage, Layer } from './model.ts';

export const BASE_NAME_ANNOTATION = 'org.opencontainers.image.base.name';
export const BASE_DIGEST_ANNOTATION = 'org.opencontainers.image.base.digest';

/** A stored image whose layers form a prefix of the image being attributed. */
export interface BaseCandidate {
  key: string;
  name?: string;
  digest?: Digest;
  layerCount: number;
  hardened: boolean;
}

/**
 * Repository prefixes of catalogs that publish hardened, vendor-maintained images. A base from
 * one of them is marked hardened, and it wins a tie with another base of the same length.
 */
const HARDENED_CATALOGS: ReadonlyArray<{ pattern: RegExp; catalog: string }> = [
  { pattern: /^(docker\.io\/|index\.docker\.io\/|registry-1\.docker\.io\/)?dhi\//, catalog: 'Docker Hardened Images' },
  { pattern: /^dhi\.io\//, catalog: 'Docker Hardened Images' },
  { pattern: /^cgr\.dev\//, catalog: 'Chainguard Images' },
];

export function hardenedCatalog(repository: string | undefined): string | undefined {
  if (!repository) return undefined;
  return HARDENED_CATALOGS.find(({ pattern }) => pattern.test(repository.toLowerCase()))?.catalog;
}

export interface AttributionInput {
  layers: readonly Layer[];
  history?: readonly HistoryEntry[];
  annotations: Record<string, string>;
  labels: Record<string, string>;
  /** The stored image the annotation's base.digest names, when there is one. */
  annotatedBase?: BaseCandidate;
  /** The stored image with the longest proper layer prefix, when there is one. */
  prefixMatch?: BaseCandidate;
}

function annotationValue(input: AttributionInput, key: string): string | undefined {
  return input.annotations[key] ?? input.labels[key];
}

/**
 * Decides the base image and the boundary between base and application layers, strongest
 * method first: the OCI base annotations with a known base, a layer-prefix match against
 * stored images, then the build history (low confidence). Returns undefined when nothing
 * gives evidence, so every layer stays UNKNOWN.
 */
export function detectBaseImage(input: AttributionInput): BaseImage | undefined {
  const annotatedName = annotationValue(input, BASE_NAME_ANNOTATION);
  const annotatedDigest = annotationValue(input, BASE_DIGEST_ANNOTATION);
  const annotated = annotatedName !== undefined || annotatedDigest !== undefined;
  const layerCount = input.layers.length;

  const known = input.annotatedBase;
  if (known && known.layerCount > 0 && known.layerCount < layerCount) {
    return {
      name: annotatedName ?? known.name,
      digest: annotatedDigest ?? known.digest,
      hardened: known.hardened || hardenedCatalog(annotatedName) !== undefined,
      method: 'ANNOTATION',
      confidence: 'HIGH',
      layerCount: known.layerCount,
      evidence: `the ${BASE_DIGEST_ANNOTATION} annotation names ${annotatedDigest}, a stored image whose ${known.layerCount} layers are this image's first layers`,
    };
  }

  const prefix = input.prefixMatch;
  if (prefix && prefix.layerCount > 0 && prefix.layerCount < layerCount) {
    return {
      name: annotatedName ?? prefix.name,
      digest: annotatedDigest ?? prefix.digest,
      hardened: prefix.hardened || hardenedCatalog(annotatedName) !== undefined,
      method: 'LAYER_PREFIX',
      confidence: 'HIGH',
      layerCount: prefix.layerCount,
      evidence: `the first ${prefix.layerCount} layers have the same diff_ids, in order, as the stored image ${prefix.name ?? prefix.digest ?? prefix.key}`,
    };
  }

  const boundary = findHistoryBoundary(input.history, layerCount);
  if (boundary) {
    return {
      name: annotatedName,
      digest: annotatedDigest,
      hardened: hardenedCatalog(annotatedName) !== undefined,
      method: 'HISTORY',
      // The annotation confirms that a base exists; only the boundary is inferred.
      confidence: annotated ? 'MEDIUM' : 'LOW',
      layerCount: boundary.layerCount,
      evidence: boundary.evidence,
    };
  }

  if (annotated) {
    return {
      name: annotatedName,
      digest: annotatedDigest,
      hardened: hardenedCatalog(annotatedName) !== undefined,
      method: 'ANNOTATION',
      confidence: 'LOW',
      evidence: `the ${BASE_NAME_ANNOTATION} annotations name the base, but it is not stored and the history shows no boundary, so every layer stays UNKNOWN`,
    };
  }

  return undefined;
}

/** Sets every layer's origin from the base image's layer count. */
export function applyOrigins(layers: readonly Layer[], base: BaseImage | undefined): Layer[] {
  return layers.map((layer) => {
    if (base?.layerCount === undefined) return { ...layer, origin: 'UNKNOWN' };
    return { ...layer, origin: layer.index < base.layerCount ? 'BASE' : 'APPLICATION' };
  });
}
