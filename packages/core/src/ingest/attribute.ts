import { chainIds } from '../digest.ts';
import type { Finding, LayerOrigin } from '../finding.ts';
import { applyOrigins, detectBaseImage, hardenedCatalog, type BaseCandidate } from '../image/attribution.ts';
import { resolveLayer, type Image, type ScanSummary } from '../image/model.ts';
import type { Severity } from '../severity.ts';
import type { IngestContext } from './context.ts';

/** Builds the record by which another image can match this one as its base. */
export function asBaseCandidate(image: Image): BaseCandidate {
  const tag = image.tags[0];
  const name = image.repository ? `${image.repository}${tag ? `:${tag}` : ''}` : undefined;

  return { key: image.key, name, digest: image.digest, layerCount: image.layers.length, hardened: hardenedCatalog(image.repository) !== undefined };
}

export function diffIdChain(image: Image): string[] {
  const diffIds = image.layers.map((layer) => layer.diffId);
  return diffIds.every((id): id is string => id !== undefined) ? chainIds(diffIds) : [];
}

/**
 * Decides the base image and the origin of every layer of `image` from what the store contains
 * now. Returns a new image; the input is not changed.
 */
export async function attributeLayers(context: IngestContext, image: Image): Promise<Image> {
  const chain = diffIdChain(image);
  const prefixMatch = chain.length > 1 ? await context.store.findLongestPrefix(chain, image.key) : undefined;

  const baseDigest = image.annotations['org.opencontainers.image.base.digest'];
  const annotatedImage = baseDigest ? await context.store.getImage(baseDigest) : undefined;
  const annotatedChain = annotatedImage ? diffIdChain(annotatedImage) : [];
  // The annotation is trusted for the boundary only when the named image's layers really are this image's first layers.
  const annotatedBase =
    annotatedImage && annotatedChain.length > 0 && chain[annotatedChain.length - 1] === annotatedChain.at(-1) ? asBaseCandidate(annotatedImage) : undefined;

  const baseImage = detectBaseImage({
    layers: image.layers,
    history: image.history,
    annotations: image.annotations,
    labels: image.labels,
    annotatedBase,
    prefixMatch,
  });

  return { ...image, baseImage, layers: applyOrigins(image.layers, baseImage) };
}

/**
 * Places each finding in the image's layers and sets its origin. A finding whose layer was
 * not known when it was ingested is resolved again, because a later push can bring the layers.
 */
export function withOrigins(image: Image, findings: Finding[]): Finding[] {
  return findings.map((finding) => {
    const layerIndex = finding.layerIndex ?? resolveLayer(image.layers, finding.layer)?.index;
    const origin: LayerOrigin = layerIndex === undefined ? 'UNKNOWN' : (image.layers[layerIndex]?.origin ?? 'UNKNOWN');
    return origin === finding.origin && layerIndex === finding.layerIndex ? finding : { ...finding, layerIndex, origin };
  });
}

export function countFindings(findings: readonly Finding[]): ScanSummary['counts'] {
  const counts: ScanSummary['counts'] = { BASE: {}, APPLICATION: {}, UNKNOWN: {} };

  for (const finding of findings) {
    const byOrigin = counts[finding.origin];
    byOrigin[finding.severity as Severity] = (byOrigin[finding.severity] ?? 0) + 1;
  }

  return counts;
}

/** True when both images have the same base and the same layers with the same origins, so findings need no move. */
export function sameAttribution(a: Image, b: Image): boolean {
  const shape = (image: Image) => JSON.stringify([image.baseImage, image.layers.map((layer) => [layer.digest, layer.diffId, layer.origin])]);
  return shape(a) === shape(b);
}
