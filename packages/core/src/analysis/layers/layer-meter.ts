import { createHash, type Hash } from 'node:crypto';

import type { Digest } from '../../digest.ts';
import { LayerLimitError } from './errors.ts';
import type { LayerLimits } from './limits.ts';

/** Running totals of the whole image read, shared by its layers. */
export interface ImageTotals {
  bytes: number;
  entries: number;
}

/**
 * Hashes and counts one layer's compressed and uncompressed bytes as they stream, and stops the
 * read as soon as the image's total size or the layer's decompression ratio goes over its limit.
 */
export class LayerMeter {
  compressedBytes = 0;
  uncompressedBytes = 0;
  /** Bytes a decompressor announced but has not yet passed on (zstd returns several blocks per push). */
  #reserved = 0;
  readonly #compressedHash?: Hash;
  readonly #uncompressedHash: Hash = createHash('sha256');
  #uncompressedDigest?: Digest;

  constructor(
    private readonly layer: string,
    private readonly limits: LayerLimits,
    private readonly totals: ImageTotals,
    private readonly compressed: boolean,
  ) {
    // An uncompressed layer's blob and tar are the same bytes, hashed once on the uncompressed side.
    if (compressed) this.#compressedHash = createHash('sha256');
  }

  addCompressed(chunk: Buffer): void {
    this.compressedBytes += chunk.length;
    this.#compressedHash?.update(chunk);
  }

  /** Checks the limits as if `bytes` more uncompressed bytes had arrived; throws LayerLimitError when one is crossed. */
  reserve(bytes: number): void {
    this.#reserved += bytes;
    this.#check(this.uncompressedBytes + this.#reserved);
  }

  addUncompressed(chunk: Buffer): void {
    this.#reserved = Math.max(0, this.#reserved - chunk.length);
    this.uncompressedBytes += chunk.length;
    this.totals.bytes += chunk.length;
    this.#check(this.uncompressedBytes + this.#reserved);
    this.#uncompressedHash.update(chunk);
  }

  /** Digest of the blob; call once, after the stream ended. */
  compressedDigest(): Digest {
    return this.#compressedHash ? `sha256:${this.#compressedHash.digest('hex')}` : this.uncompressedDigest();
  }

  /** Digest of the tar; call once, after the stream ended. */
  uncompressedDigest(): Digest {
    this.#uncompressedDigest ??= `sha256:${this.#uncompressedHash.digest('hex')}`;
    return this.#uncompressedDigest;
  }

  #check(layerBytes: number): void {
    const imageBytes = this.totals.bytes - this.uncompressedBytes + layerBytes;
    if (imageBytes > this.limits.maxTotalBytes) {
      throw new LayerLimitError(
        `${this.layer} brings the image to more than ${this.limits.maxTotalBytes} uncompressed bytes (limits.maxTotalBytes); raise that limit to read this image`,
        this.layer,
        'maxTotalBytes',
        imageBytes,
      );
    }

    if (!this.compressed || layerBytes <= this.limits.ratioGraceBytes) return;

    const ratio = layerBytes / Math.max(1, this.compressedBytes);
    if (ratio > this.limits.maxCompressionRatio) {
      throw new LayerLimitError(
        `${this.layer} expanded ${this.compressedBytes} compressed bytes into ${layerBytes} bytes, a ratio of ${Math.round(ratio)} over the limit of ${this.limits.maxCompressionRatio} (limits.maxCompressionRatio), as a decompression bomb does; raise that limit if the layer is trusted`,
        this.layer,
        'maxCompressionRatio',
        Math.round(ratio),
      );
    }
  }
}
