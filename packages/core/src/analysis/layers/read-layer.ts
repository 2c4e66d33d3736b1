import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

import tar from 'tar-stream';

import { StratumError } from '../../errors.ts';
import { baseName, parentOf, type ImageFileSystem } from '../filesystem.ts';
import type { AnalyzedLayer, ContentInspector, ContentSelector, FileNode } from '../model.ts';
import type { ContentStore } from './content-store.ts';
import { compressionOfContent, compressionOfMediaType, streamDecompressor, zstdDecompress, type LayerCompression } from './decompress.ts';
import { EntryPaths } from './entry-path.ts';
import { CorruptLayerError, HostileLayerError, LayerLimitError } from './errors.ts';
import { LayerMeter, type ImageTotals } from './layer-meter.ts';
import type { LayerLimits } from './limits.ts';
import type { LayerBlob } from './source.ts';

/** Bytes of each regular file offered to ContentInspector.wants. */
export const INSPECTOR_HEAD_BYTES = 64;

const WHITEOUT_PREFIX = '.wh.';
const OPAQUE_MARKER = '.wh..wh..opq';

/** Settings and state shared by the layers of one image read: the tree they fill, the limits and the warnings. */
export interface LayerReadContext {
  fs: ImageFileSystem;
  store: ContentStore;
  inspectors: readonly ContentInspector[];
  selectors: readonly ContentSelector[];
  limits: LayerLimits;
  totals: ImageTotals;
  /** One buffer reused for every inspected file and grown to the largest, so that large ELF files do not each allocate memory outside the heap and set off garbage collections. */
  scratch: { buffer: Buffer };
  warn(message: string): void;
}

type TarEntry = AsyncIterable<Buffer> & { header: tar.Header };

/** The first bytes of a stream, an iterable of the whole stream, and a way to discard the rest without another iteration layer. */
interface Peeked {
  head: Buffer;
  chunks: AsyncIterable<Buffer>;
  skipRest(): Promise<void>;
}

/** Reads the first bytes of a stream. */
async function peek(source: AsyncIterable<Buffer>, bytes: number): Promise<Peeked> {
  const iterator = source[Symbol.asyncIterator]();
  const seen: Buffer[] = [];
  let size = 0;
  let finished = false;

  while (size < bytes) {
    const next = await iterator.next();
    if (next.done) {
      finished = true;
      break;
    }
    seen.push(next.value);
    size += next.value.length;
  }

  async function* chunks(): AsyncGenerator<Buffer> {
    yield* seen;
    if (finished) return;
    for (let next = await iterator.next(); !next.done; next = await iterator.next()) yield next.value;
  }
  async function skipRest(): Promise<void> {
    if (finished) return;
    for (let next = await iterator.next(); !next.done; next = await iterator.next());
  }

  const head = seen.length === 1 ? seen[0]! : Buffer.concat(seen);
  return { head: head.subarray(0, bytes), chunks: chunks(), skipRest };
}

/** Resolves when tar-stream's extractor can take more input, or has closed. */
export function writable(extract: tar.Extract): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      extract.off('drain', done);
      extract.off('close', done);
      resolve();
    };
    extract.on('drain', done);
    extract.on('close', done);
  });
}

/** Writes chunks into tar-stream's extractor, waiting for 'drain' whenever its buffer is full. */
async function feedExtract(chunks: AsyncIterable<Buffer>, extract: tar.Extract): Promise<void> {
  for await (const chunk of chunks) {
    if (extract.destroyed) return;
    if (!extract.write(chunk)) await writable(extract);
  }
  extract.end(undefined);
}

/** Consumes what is left of an entry, or a whole entry. */
async function drain(chunks: AsyncIterable<Buffer>): Promise<void> {
  for await (const _chunk of chunks);
}

/** Describes a damaged stream in words a user can act on. */
function describeFailure(error: unknown, compression: LayerCompression): string {
  const message = (error as Error).message ?? String(error);
  if (/unexpected end|unexpected eof|end of data|truncated/i.test(message) || (error as { code?: string }).code === 'Z_BUF_ERROR') {
    return compression === 'none' ? `its tar stream ends early (${message})` : `its ${compression} stream ends early (${message})`;
  }
  return `${compression === 'none' ? 'its tar stream' : `its ${compression} stream or the tar inside it`} is invalid (${message})`;
}

/** Reads one layer's entries into the file system. */
class LayerEntryReader {
  entries = 0;
  readonly #paths: EntryPaths;
  /** Parent directories already resolved through symlinks; cleared whenever a link, a directory or a whiteout could change a resolution. */
  readonly #resolvedParents = new Map<string, string>();

  constructor(
    private readonly layer: string,
    private readonly index: number,
    private readonly context: LayerReadContext,
  ) {
    this.#paths = new EntryPaths(layer, context.limits);
  }

  async read(entry: TarEntry): Promise<void> {
    const { header } = entry;
    const { limits, totals, fs } = this.context;

    this.entries++;
    if (++totals.entries > limits.maxEntries) {
      throw new LayerLimitError(
        `${this.layer} brings the image to more than ${limits.maxEntries} tar entries (limits.maxEntries); raise that limit to read this image`,
        this.layer,
        'maxEntries',
        totals.entries,
      );
    }

    const named = this.#paths.entryPath(header.name);
    if (named === undefined) return drain(entry);
    const path = this.#throughSymlinks(named);

    const mode = header.mode ?? 0;
    const base = { path, mode, layerIndex: this.index, size: 0 };

    // Files are by far the most common entries and cannot change how a directory resolves.
    if (header.type !== 'file' && header.type !== 'contiguous-file') this.#resolvedParents.clear();

    switch (header.type) {
      case 'directory':
        fs.add({ ...base, kind: 'directory' });
        return drain(entry);

      case 'symlink':
        this.#paths.checkSymlinkTarget(path, header.linkname ?? '');
        fs.add({ ...base, kind: 'symlink', linkTarget: header.linkname ?? '' });
        return drain(entry);

      case 'link':
        this.#addHardlink(path, header.linkname ?? '', mode);
        return drain(entry);

      case 'file':
      case 'contiguous-file':
        return this.#readFile(entry, path, mode);

      case 'character-device':
      case 'block-device':
      case 'fifo':
        // Special files are recorded, never created: nothing of a layer is materialized except kept content.
        fs.add({ ...base, kind: 'other' });
        return drain(entry);

      default:
        return drain(entry);
    }
  }

  /**
   * Resolves symlinks in the parent directories, inside the image root, because containerd and
   * Docker extract `lib/x` below a `/lib -> usr/lib` symlink into /usr/lib/x.
   */
  #throughSymlinks(path: string): string {
    const parent = parentOf(path);
    if (parent === '/') return path;

    let resolved = this.#resolvedParents.get(parent);
    if (resolved === undefined) {
      resolved = this.context.fs.resolvePath(parent) ?? parent;
      this.#resolvedParents.set(parent, resolved);
    }
    if (resolved === parent) return path;
    return resolved === '/' ? `/${baseName(path)}` : `${resolved}/${baseName(path)}`;
  }

  #addHardlink(path: string, linkName: string, mode: number): void {
    const target = this.#paths.hardlinkTarget(path, linkName);
    const targetNode = this.context.fs.entry(target);
    if (!targetNode) this.context.warn(`${this.layer}: hardlink ${path} points to ${target}, which no layer wrote so far`);

    // Facts and kept content belong to the shared inode, so the link gets them too.
    const node: FileNode = { path, kind: 'hardlink', mode: targetNode?.mode ?? mode, size: targetNode?.size ?? 0, linkTarget: target, layerIndex: this.index };
    if (targetNode?.facts) node.facts = targetNode.facts;
    if (targetNode && this.context.store.share(node, targetNode)) node.stored = true;
    this.context.fs.add(node);
  }

  /** Applies `.wh.<name>` and `.wh..wh..opq` entries; returns true when the entry was one. */
  #applyWhiteout(path: string): boolean {
    const name = baseName(path);
    if (!name.startsWith(WHITEOUT_PREFIX)) return false;

    const dir = parentOf(path);
    if (name === OPAQUE_MARKER) {
      this.context.fs.clearBelow(dir, this.index);
      return true;
    }

    const hidden = name.slice(WHITEOUT_PREFIX.length);
    // Other '.wh..wh.' names are aufs bookkeeping (hardlink folders) with nothing to apply.
    if (hidden.startsWith(WHITEOUT_PREFIX)) return true;
    if (hidden === '' || hidden === '.' || hidden === '..') {
      throw new HostileLayerError(`${this.layer} has a whiteout ${path} that names ${JSON.stringify(hidden)} instead of a file; the layer was rejected`, this.layer, path);
    }

    this.context.fs.remove(dir === '/' ? `/${hidden}` : `${dir}/${hidden}`, this.index);
    return true;
  }

  async #readFile(entry: TarEntry, path: string, mode: number): Promise<void> {
    const size = entry.header.size ?? 0;
    const { limits } = this.context;

    if (this.#applyWhiteout(path)) {
      this.#resolvedParents.clear();
      return drain(entry);
    }

    if (size > limits.maxFileBytes) {
      throw new LayerLimitError(
        `${this.layer} has a file ${path} of ${size} bytes, over the limit of ${limits.maxFileBytes} (limits.maxFileBytes); raise that limit to read it`,
        this.layer,
        'maxFileBytes',
        size,
      );
    }

    const node: FileNode = { path, kind: 'file', size, mode, layerIndex: this.index };
    await this.#readContent(entry, node);
    this.context.fs.add(node);
  }

  /** Offers the file to the inspectors and selectors, buffering it only when an inspector takes it. */
  async #readContent(entry: TarEntry, node: FileNode): Promise<void> {
    const { inspectors, selectors, store } = this.context;
    const { path, size } = node;

    const { head, chunks, skipRest } = await peek(entry, INSPECTOR_HEAD_BYTES);
    const inspecting = this.#inspectorsFor(node, head);
    const keep = this.#selected(node);
    if (!inspecting.length && !keep) return skipRest();

    if (!inspecting.length) {
      await store.keep(node, chunks);
      node.stored = true;
      return;
    }

    const content = await collect(chunks, size, this.context.scratch);
    if (content.length !== size) throw new CorruptLayerError(`${this.layer}: file ${path} is cut short, ${content.length} of the ${size} bytes its tar header states`, this.layer);

    node.facts = {};
    for (const inspector of inspecting) {
      try {
        const facts = inspector.inspect(path, content);
        if (facts !== undefined) node.facts[inspector.name] = facts;
      } catch (error) {
        this.context.warn(`${this.layer}: inspector ${inspector.name} failed on ${path}: ${(error as Error).message}`);
      }
    }
    if (!Object.keys(node.facts).length) delete node.facts;

    if (keep) {
      await store.keep(node, [content]);
      node.stored = true;
    }
  }

  #inspectorsFor(node: FileNode, head: Buffer): ContentInspector[] {
    const chosen: ContentInspector[] = [];

    for (const inspector of this.context.inspectors) {
      let wanted = false;
      try {
        wanted = inspector.wants(node.path, node.size, head);
      } catch (error) {
        this.context.warn(`${this.layer}: inspector ${inspector.name} failed on ${node.path}: ${(error as Error).message}`);
      }
      if (!wanted) continue;

      if (node.size > inspector.maxBytes) {
        this.context.warn(`${this.layer}: skipped ${node.path} (${node.size} bytes) for inspector ${inspector.name}, whose limit is ${inspector.maxBytes} bytes`);
        continue;
      }
      chosen.push(inspector);
    }
    return chosen;
  }

  #selected(node: FileNode): boolean {
    let tooLarge: ContentSelector | undefined;

    for (const selector of this.context.selectors) {
      if (!selector.keep(node.path, node.size)) continue;
      if (node.size <= selector.maxBytes) return true;
      tooLarge = selector;
    }

    if (tooLarge) this.context.warn(`${this.layer}: did not keep ${node.path} (${node.size} bytes), over the selector's limit of ${tooLarge.maxBytes} bytes`);
    return false;
  }
}

/** Copies a file of known size into the scratch buffer, stopping at `size` bytes, and returns the filled part. */
async function collect(chunks: AsyncIterable<Buffer>, size: number, scratch: { buffer: Buffer }): Promise<Buffer> {
  if (scratch.buffer.length < size) scratch.buffer = Buffer.allocUnsafe(size);
  const content = scratch.buffer;
  let filled = 0;

  for await (const chunk of chunks) {
    const room = size - filled;
    chunk.copy(content, filled, 0, Math.min(room, chunk.length));
    filled += Math.min(room, chunk.length);
  }
  return content.subarray(0, filled);
}

/** Picks the most useful of the errors that the feeding and the reading side raised. */
function firstCause(results: PromiseSettledResult<unknown>[]): unknown {
  const errors = results.filter((result): result is PromiseRejectedResult => result.status === 'rejected').map((result) => result.reason as unknown);
  return errors.find((error) => error instanceof StratumError) ?? errors.find((error) => (error as Error)?.name !== 'AbortError') ?? errors[0];
}

/**
 * Streams one layer blob once: its compressed bytes are hashed against the manifest digest,
 * decompressed (gzip, zstd or none, from the magic bytes), hashed against the diff_id, and
 * read entry by entry into the file system. Throws LayerLimitError, HostileLayerError or
 * CorruptLayerError; the caller then discards everything read so far.
 */
export async function readLayer(blob: LayerBlob, index: number, context: LayerReadContext): Promise<AnalyzedLayer> {
  const layer = `Layer ${index} (${blob.digest ?? blob.diffId})`;
  const source = await blob.open();
  const { head, chunks } = await peek(source as AsyncIterable<Buffer>, 4);

  const compression = compressionOfContent(head);
  const declared = compressionOfMediaType(blob.mediaType);
  if (declared !== undefined && declared !== compression) {
    context.warn(`${layer}: its media type ${blob.mediaType} names ${declared} compression but its content is ${compression === 'none' ? 'uncompressed' : compression}; it was read as its content shows`);
  }

  const meter = new LayerMeter(layer, context.limits, context.totals, compression !== 'none');
  const reader = new LayerEntryReader(layer, index, context);
  const extract = tar.extract();
  const abort = new AbortController();

  async function* countCompressed(input: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const chunk of input) {
      meter.addCompressed(chunk);
      yield chunk;
    }
  }
  async function* countUncompressed(input: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const chunk of input) {
      meter.addUncompressed(chunk);
      yield chunk;
    }
  }
  const decompress =
    compression === 'zstd' ? (input: AsyncIterable<Buffer>) => zstdDecompress(input, (bytes) => meter.reserve(bytes)) : streamDecompressor(compression);

  const feeding = pipeline(chunks, countCompressed, decompress, countUncompressed, (input: AsyncIterable<Buffer>) => feedExtract(input, extract), { signal: abort.signal }).catch(
    (error: unknown) => {
      extract.destroy(error as Error);
      throw error;
    },
  );
  const reading = (async () => {
    for await (const entry of extract) await reader.read(entry as unknown as TarEntry);
  })().catch((error: unknown) => {
    abort.abort(error);
    throw error;
  });

  const results = await Promise.allSettled([feeding, reading]);
  source.destroy();
  const cause = firstCause(results);
  if (cause !== undefined) {
    if (cause instanceof StratumError) throw cause;
    throw new CorruptLayerError(`${layer} cannot be read: ${describeFailure(cause, compression)}; the blob is damaged or cut short, so fetch or build the image again`, layer, { cause });
  }

  const digest = meter.compressedDigest();
  if (blob.digest?.startsWith('sha256:') && digest !== blob.digest) {
    throw new CorruptLayerError(`${layer}: the blob's content has digest ${digest}, but the manifest names ${blob.digest}; the blob is damaged or was replaced`, layer);
  }
  const diffId = meter.uncompressedDigest();
  if (blob.diffId.startsWith('sha256:') && diffId !== blob.diffId) {
    throw new CorruptLayerError(`${layer}: the uncompressed content has digest ${diffId}, but the config's rootfs.diff_ids names ${blob.diffId}; the layer and the config do not belong together`, layer);
  }

  return { index, digest: blob.digest, diffId: blob.diffId, entries: reader.entries, bytes: meter.uncompressedBytes };
}
