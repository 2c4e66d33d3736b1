import { PassThrough, type Duplex, type TransformOptions } from 'node:stream';
import { createGunzip, type ZlibOptions } from 'node:zlib';

import { Decompress } from 'fzstd';

export type LayerCompression = 'gzip' | 'zstd' | 'none';

const GZIP_MAGIC = [0x1f, 0x8b];
const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd];

/**
 * A zstd block can expand 32768 times (a 4-byte run-length block gives 128 KiB), and fzstd
 * returns every block of a push at once. Pushing 1 KiB at a time keeps one push below 32 MiB of
 * output, whatever the input.
 */
const ZSTD_SLICE_BYTES = 1024;

function startsWith(head: Buffer, magic: number[]): boolean {
  return head.length >= magic.length && magic.every((byte, i) => head[i] === byte);
}

/** Returns the compression a media type names: OCI and Docker layer types, `+gzip`, `+zstd`, `.gzip`; undefined when it names none. */
export function compressionOfMediaType(mediaType: string | undefined): LayerCompression | undefined {
  if (!mediaType) return undefined;
  if (/[+.]gzip$/.test(mediaType)) return 'gzip';
  if (/[+.]zstd$/.test(mediaType)) return 'zstd';
  if (/\.tar$/.test(mediaType) || mediaType.endsWith('.tar')) return 'none';
  return undefined;
}

/** Returns the compression the first bytes of a blob show: the gzip and zstd frame magic numbers, otherwise an uncompressed tar. */
export function compressionOfContent(head: Buffer): LayerCompression {
  if (startsWith(head, GZIP_MAGIC)) return 'gzip';
  if (startsWith(head, ZSTD_MAGIC)) return 'zstd';
  return 'none';
}

/**
 * Decompresses zstd with fzstd. `beforeBlock` receives the size of every block before it is kept
 * and throws to stop, so a limit can stop a decompression bomb inside a single push.
 */
export async function* zstdDecompress(source: AsyncIterable<Buffer>, beforeBlock: (bytes: number) => void): AsyncGenerator<Buffer> {
  const blocks: Buffer[] = [];
  const decoder = new Decompress((block) => {
    if (!block.length) return;
    beforeBlock(block.length);
    blocks.push(Buffer.from(block.buffer, block.byteOffset, block.length));
  });

  for await (const chunk of source) {
    for (let start = 0; start < chunk.length; start += ZSTD_SLICE_BYTES) {
      decoder.push(chunk.subarray(start, start + ZSTD_SLICE_BYTES));
      while (blocks.length) yield blocks.shift()!;
    }
  }

  decoder.push(new Uint8Array(0), true);
  while (blocks.length) yield blocks.shift()!;
}

/**
 * Output size of one gunzip step. Node's default of 16 KiB costs a round trip to the thread pool
 * per 16 KiB; 256 KiB made gunzip of a 98 MiB layer 1.7 to 2.4 times faster (Node 20, 2 cores).
 */
const GUNZIP_CHUNK_BYTES = 256 * 1024;
/**
 * Decompressed bytes gunzip may buffer ahead of the reader. Above one chunk, the thread pool
 * inflates the next chunk while the main thread hashes and parses the previous one. At the
 * default of 16 KiB, every 256 KiB chunk fills the buffer and gunzip waits for the reader.
 */
const GUNZIP_BUFFER_BYTES = 4 * GUNZIP_CHUNK_BYTES;

/** Creates a gzip decompressor or a pass-through, as a stream for node's pipeline. */
export function streamDecompressor(compression: 'gzip' | 'none'): Duplex {
  // @types/node's ZlibOptions omits the stream options that zlib passes on to Transform.
  const options: ZlibOptions & TransformOptions = { chunkSize: GUNZIP_CHUNK_BYTES, readableHighWaterMark: GUNZIP_BUFFER_BYTES };
  return compression === 'gzip' ? createGunzip(options) : new PassThrough();
}
