import type { Digest } from '../digest.ts';
import { InvalidInputError } from '../errors.ts';
import type { LayerOrigin, LayerReference } from '../finding.ts';
import type { ReportFormat } from '../report.ts';
import type { Severity } from '../severity.ts';
import { alignHistory, type HistoryEntry, type ImageConfig } from './config.ts';
import type { ImageManifest } from './manifest.ts';

export interface Layer {
  index: number;
  /** Digest of the layer blob as stored in the registry (usually compressed). */
  digest?: Digest;
  /** Digest of the uncompressed tar, as listed in the config's rootfs.diff_ids. */
  diffId?: Digest;
  size?: number;
  mediaType?: string;
  created?: string;
  createdBy?: string;
  origin: LayerOrigin;
}

export const BASE_DETECTION_METHODS = ['ANNOTATION', 'LAYER_PREFIX', 'HISTORY'] as const;
export type BaseDetectionMethod = (typeof BASE_DETECTION_METHODS)[number];
export type Confidence = 'HIGH' | 'MEDIUM' | 'LOW';

export interface BaseImage {
  /** Reference of the base image, for example "nginx:1.29.1-alpine-slim", when known. */
  name?: string;
  /** Manifest digest of the base image, when known. */
  digest?: Digest;
  hardened: boolean;
  /** The method that decided the boundary between base and application layers. */
  method: BaseDetectionMethod;
  confidence: Confidence;
  /** Number of leading layers that belong to the base image; undefined when only the name is known. */
  layerCount?: number;
  /** A sentence a person can check, for example which history entry marked the boundary. */
  evidence: string;
}

export interface ScanSummary {
  id: string;
  format: ReportFormat;
  scanner: string;
  scannerVersion?: string;
  importedAt: string;
  findingCount: number;
  counts: Record<LayerOrigin, Partial<Record<Severity, number>>>;
}

export interface Image {
  /** The store's stable key for the image: its manifest digest, or its image ID until that is known. */
  key: string;
  digest?: Digest;
  imageId?: Digest;
  /** Digest of the image index the image was pushed under, for multi-platform pushes. */
  indexDigest?: Digest;
  repository?: string;
  tags: string[];
  pushedAt?: string;
  platform?: { os: string; architecture: string; variant?: string };
  layers: Layer[];
  labels: Record<string, string>;
  annotations: Record<string, string>;
  entrypoint?: string[];
  cmd?: string[];
  env?: string[];
  workingDir?: string;
  user?: string;
  /** The config's full history, empty-layer entries included; base detection reads it. */
  history?: HistoryEntry[];
  baseImage?: BaseImage;
  scan?: ScanSummary;
  createdAt: string;
  updatedAt: string;
}

/** Everything known about an image's structure from a manifest, a config or a report. */
export interface ImageFacts {
  manifest?: ImageManifest;
  config?: ImageConfig;
  diffIds?: Digest[];
  layerDigests?: Digest[];
}

/**
 * Builds the ordered layer list. The i-th manifest layer is the compressed form of the i-th
 * diff_id, so the two lists must have the same length. History entries are aligned to the
 * layers that produced them.
 */
export function buildLayers(facts: ImageFacts): Layer[] {
  const diffIds = facts.config?.rootfs.diff_ids ?? facts.diffIds;
  const manifestLayers = facts.manifest?.layers;
  const layerDigests = manifestLayers?.map((layer) => layer.digest) ?? facts.layerDigests;

  if (diffIds && layerDigests && diffIds.length !== layerDigests.length) {
    throw new InvalidInputError(
      `The manifest lists ${layerDigests.length} layers but the config lists ${diffIds.length} diff_ids; they must describe the same image`,
      { path: 'layers', value: layerDigests.length },
    );
  }

  const count = diffIds?.length ?? layerDigests?.length ?? 0;
  const history = facts.config ? alignHistory(facts.config) : [];
  const layers: Layer[] = [];

  for (let index = 0; index < count; index++) {
    const entry = history[index];
    layers.push({
      index,
      digest: layerDigests?.[index],
      diffId: diffIds?.[index],
      size: manifestLayers?.[index]?.size,
      mediaType: manifestLayers?.[index]?.mediaType,
      created: entry?.created,
      createdBy: entry?.createdBy,
      origin: 'UNKNOWN',
    });
  }

  return layers;
}

/**
 * Merges a new source's facts about the layers into what is stored: a push brings
 * compressed digests, a report often only diff_ids. Layers are matched by position.
 */
export function mergeLayers(known: Layer[], incoming: Layer[]): Layer[] {
  if (known.length === 0) return incoming;
  if (incoming.length === 0) return known;

  if (known.length !== incoming.length) {
    throw new InvalidInputError(
      `The image already has ${known.length} layers recorded but the new data lists ${incoming.length}; they describe different images`,
      { path: 'layers', value: incoming.length },
    );
  }

  return known.map((layer, index) => {
    const other = incoming[index]!;
    for (const field of ['digest', 'diffId'] as const) {
      if (layer[field] && other[field] && layer[field] !== other[field]) {
        throw new InvalidInputError(`Layer ${index} has ${field} ${layer[field]} on record but the new data has ${other[field]}`, {
          path: `layers[${index}].${field}`,
          value: other[field],
        });
      }
    }
    return {
      ...layer,
      digest: layer.digest ?? other.digest,
      diffId: layer.diffId ?? other.diffId,
      size: layer.size ?? other.size,
      mediaType: layer.mediaType ?? other.mediaType,
      created: layer.created ?? other.created,
      createdBy: layer.createdBy ?? other.createdBy,
    };
  });
}

/** Finds the layer a finding points at, matching compressed digests and diff_ids alike. */
export function resolveLayer(layers: readonly Layer[], reference: LayerReference | undefined): Layer | undefined {
  if (!reference) return undefined;

  const wanted = [reference.digest, reference.diffId, reference.hash].filter((value): value is string => Boolean(value));
  if (wanted.length === 0) return undefined;

  return layers.find((layer) => wanted.includes(layer.digest ?? '') || wanted.includes(layer.diffId ?? ''));
}
