import { InvalidInputError } from '../../errors.ts';

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;

/** Bounds on what one image read may consume; a layer that crosses one fails the whole read. */
export interface LayerLimits {
  /** Uncompressed bytes over all layers of the image. */
  maxTotalBytes: number;
  /** Tar entries over all layers of the image, whiteouts included. */
  maxEntries: number;
  /** Size of one file entry, in bytes. */
  maxFileBytes: number;
  /** Uncompressed bytes per compressed byte of a layer, checked while the layer streams. */
  maxCompressionRatio: number;
  /** Uncompressed bytes of a layer read before the ratio is checked, so that small layers with long runs of zeros pass. */
  ratioGraceBytes: number;
  /** Characters of one entry's path. */
  maxPathLength: number;
  /** Components of one entry's path. */
  maxPathDepth: number;
}

/**
 * Defaults, estimated to sit well above large real images: CUDA and ML framework images reach
 * 10 to 20 GB uncompressed, and gzip rarely gets beyond 10 times on files other than runs of
 * zeros. PATH_MAX on Linux is 4096.
 */
export const DEFAULT_LAYER_LIMITS: LayerLimits = {
  maxTotalBytes: 32 * GIB,
  maxEntries: 2_000_000,
  maxFileBytes: 8 * GIB,
  maxCompressionRatio: 200,
  ratioGraceBytes: 8 * MIB,
  maxPathLength: 4096,
  maxPathDepth: 256,
};

/** Merges overrides with the defaults, rejecting values that are not positive numbers. */
export function resolveLimits(overrides: Partial<LayerLimits> = {}): LayerLimits {
  const limits = { ...DEFAULT_LAYER_LIMITS };

  for (const [name, value] of Object.entries(overrides) as Array<[keyof LayerLimits, number | undefined]>) {
    if (value === undefined) continue;
    if (!(name in DEFAULT_LAYER_LIMITS)) throw new InvalidInputError(`Unknown layer limit ${name}; known limits: ${Object.keys(DEFAULT_LAYER_LIMITS).join(', ')}`, { path: `limits.${name}`, value });
    if (typeof value !== 'number' || !(value > 0)) throw new InvalidInputError(`Layer limit ${name} must be a positive number, got ${String(value)}`, { path: `limits.${name}`, value });
    limits[name] = value;
  }

  return limits;
}
