import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { constants, createReadStream, createWriteStream, existsSync } from 'node:fs';
import { access, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rename, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { createGzip } from 'node:zlib';

import tar from 'tar-stream';

/**
 * Builds real OCI image layouts and `docker save` archives at test time, with layers written
 * as tar streams (never held whole in memory), so tests and benchmarks can read images of any
 * size. Manifests, configs and digests follow the OCI image spec 1.1 and the Docker image v1.2
 * archive format.
 */

const run = promisify(execFile);

/** A tar header as tar-stream takes it: only the name is required. */
export type TarHeader = Partial<tar.Header> & Pick<tar.Header, 'name'>;

export const OCI_MEDIA_TYPES = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar',
  layerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  layerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
} as const;

/** Every entry gets this modification time, so that the same spec always gives the same digests. */
const FIXED_MTIME = new Date('2026-01-01T00:00:00Z');
const ZERO_CHUNK = Buffer.alloc(1024 * 1024);

export type Compression = 'gzip' | 'zstd' | 'none';

/** One entry of a layer. Paths are absolute image paths such as `/usr/lib/libssl.so.3`. */
export type LayerEntry =
  /** A regular file with inline content, the bytes of a host file, or `zeros` zero bytes (for large or bomb-like files). */
  | { type: 'file'; path: string; content?: string | Buffer; fromHost?: string; zeros?: number; mode?: number }
  | { type: 'directory'; path: string; mode?: number }
  /** `target` is written as given: relative (`../lib/x`) or absolute (`/usr/lib/x`). */
  | { type: 'symlink'; path: string; target: string }
  /** `target` is the absolute image path of a file written earlier in the same layer. */
  | { type: 'hardlink'; path: string; target: string }
  /** Deletes `path` from lower layers with a `.wh.<name>` entry. */
  | { type: 'whiteout'; path: string }
  /** Hides everything lower layers put below the directory `path` with a `.wh..wh..opq` entry. */
  | { type: 'opaque'; path: string }
  /**
   * Copies a host directory tree to `to`: directories, regular files and symlinks as they are,
   * other file types and unreadable files skipped. The walk stops after `maxFiles` files or once
   * the files copied reach `maxBytes` bytes.
   */
  | { type: 'tree'; from: string; to: string; maxFiles?: number; maxBytes?: number }
  /** A tar header written exactly as given, with an arbitrary name, for hostile-input tests. */
  | { type: 'raw'; header: TarHeader; content?: string | Buffer };

export interface LayerSpec {
  compression: Compression;
  entries: LayerEntry[];
  /** The history line of this layer; defaults to a description of the layer. */
  createdBy?: string;
  /** Keeps only this many bytes of the compressed blob (the digests then describe the truncated blob). */
  truncateTo?: number;
  /** Writes this diff_id into the config instead of the real one, for digest-mismatch tests. */
  diffIdOverride?: string;
}

export interface ImageSpec {
  layers: LayerSpec[];
  config?: { Entrypoint?: string[]; Cmd?: string[]; Env?: string[]; WorkingDir?: string; User?: string; Labels?: Record<string, string> };
  /** Stored as org.opencontainers.image.ref.name in index.json (and as RepoTags in a docker archive). */
  tag?: string;
  /** Defaults to amd64; the OS is always linux. */
  architecture?: string;
  /** Puts the manifest behind a nested image index, as multi-platform pushes do. */
  nestedIndex?: boolean;
}

export interface BuiltLayer {
  /** Digest of the blob as stored (compressed when the layer is compressed). */
  digest: string;
  /** Digest of the uncompressed tar, as the config's rootfs.diff_ids lists it (before any override). */
  diffId: string;
  mediaType: string;
  /** Blob size in bytes. */
  size: number;
  /** Uncompressed tar size in bytes. */
  tarSize: number;
}

export interface BuiltImage {
  dir: string;
  manifestDigest: string;
  /** The config digest, which Docker calls the image ID. */
  imageId: string;
  layers: BuiltLayer[];
}

export interface BuiltArchive {
  file: string;
  /** Undefined for the classic layout, which has no manifest. */
  manifestDigest?: string;
  imageId: string;
  layers: BuiltLayer[];
}

function tarName(path: string): string {
  return path.replace(/^\/+/, '');
}

function digestOf(hash: ReturnType<typeof createHash>): string {
  return `sha256:${hash.digest('hex')}`;
}

function blobPath(dir: string, digest: string): string {
  return join(dir, 'blobs', 'sha256', digest.slice('sha256:'.length));
}

/** Passes bytes through while hashing and counting them. */
function hashingStream(): { stream: Transform; result: () => { digest: string; size: number } } {
  const hash = createHash('sha256');
  let size = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      size += chunk.length;
      callback(null, chunk);
    },
  });
  return { stream, result: () => ({ digest: digestOf(hash), size }) };
}

async function* zeros(size: number): AsyncGenerator<Buffer> {
  for (let left = size; left > 0; left -= ZERO_CHUNK.length) yield left >= ZERO_CHUNK.length ? ZERO_CHUNK : ZERO_CHUNK.subarray(0, left);
}

async function writeEntry(pack: tar.Pack, header: TarHeader, body?: { size: number; source: () => AsyncIterable<Buffer> | Readable }): Promise<void> {
  const full: TarHeader = { uid: 0, gid: 0, mtime: FIXED_MTIME, ...header };

  if (!body) {
    // tar-stream finishes entries without a body (directories, links, devices) by itself, but a file entry must be ended.
    const isFile = full.type === undefined || full.type === 'file' || full.type === 'contiguous-file';
    await new Promise<void>((resolve, reject) => {
      const callback = (error?: Error | null) => (error ? reject(error) : resolve());
      if (isFile) pack.entry(full, Buffer.alloc(0), callback);
      else pack.entry(full, callback);
    });
    return;
  }

  let sink: ReturnType<tar.Pack['entry']> | undefined;
  const done = new Promise<void>((resolve, reject) => {
    sink = pack.entry({ ...full, size: body.size }, (error) => (error ? reject(error) : resolve()));
  });

  // tar-stream's entries are streamx streams, so backpressure is handled here instead of with node's pipeline.
  for await (const chunk of body.source()) {
    if (!sink!.write(chunk)) await new Promise<void>((resolve) => sink!.once('drain', () => resolve()));
  }
  sink!.end(undefined);
  await done;
}

async function writeFileEntry(pack: tar.Pack, entry: Extract<LayerEntry, { type: 'file' }>): Promise<void> {
  const header: TarHeader = { name: tarName(entry.path), type: 'file', mode: entry.mode ?? 0o644 };

  if (entry.fromHost !== undefined) {
    const host = entry.fromHost;
    const info = await stat(host);
    await writeEntry(pack, { ...header, mode: entry.mode ?? info.mode & 0o7777 }, { size: info.size, source: () => createReadStream(host) });
    return;
  }

  if (entry.zeros !== undefined) {
    const size = entry.zeros;
    await writeEntry(pack, header, { size, source: () => zeros(size) });
    return;
  }

  const content = typeof entry.content === 'string' ? Buffer.from(entry.content) : (entry.content ?? Buffer.alloc(0));
  await writeEntry(pack, { ...header, size: content.length }, { size: content.length, source: () => Readable.from([content]) });
}

async function writeTree(pack: tar.Pack, from: string, to: string, budget: { files: number; bytes: number }): Promise<void> {
  let names: string[];
  try {
    names = (await readdir(from)).sort();
  } catch {
    return;
  }

  for (const name of names) {
    if (budget.files <= 0 || budget.bytes <= 0) return;
    const hostPath = join(from, name);
    const imagePath = posix.join(to, name);
    const info = await lstat(hostPath).catch(() => undefined);
    if (!info) continue;

    if (info.isDirectory()) {
      await writeEntry(pack, { name: `${tarName(imagePath)}/`, type: 'directory', mode: info.mode & 0o7777 });
      await writeTree(pack, hostPath, imagePath, budget);
    } else if (info.isSymbolicLink()) {
      await writeEntry(pack, { name: tarName(imagePath), type: 'symlink', linkname: await readlink(hostPath), mode: 0o777 });
      budget.files--;
    } else if (info.isFile()) {
      // A file the test user cannot read is left out rather than failing the whole build.
      const readable = await access(hostPath, constants.R_OK).then(
        () => true,
        () => false,
      );
      if (!readable) continue;
      await writeEntry(pack, { name: tarName(imagePath), type: 'file', mode: info.mode & 0o7777 }, { size: info.size, source: () => createReadStream(hostPath) });
      budget.files--;
      budget.bytes -= info.size;
    }
  }
}

async function writeLayerEntry(pack: tar.Pack, entry: LayerEntry): Promise<void> {
  switch (entry.type) {
    case 'file':
      return writeFileEntry(pack, entry);
    case 'directory':
      return writeEntry(pack, { name: `${tarName(entry.path)}/`, type: 'directory', mode: entry.mode ?? 0o755 });
    case 'symlink':
      return writeEntry(pack, { name: tarName(entry.path), type: 'symlink', linkname: entry.target, mode: 0o777 });
    case 'hardlink':
      return writeEntry(pack, { name: tarName(entry.path), type: 'link', linkname: tarName(entry.target) });
    case 'whiteout':
      return writeEntry(pack, { name: tarName(posix.join(posix.dirname(entry.path), `.wh.${posix.basename(entry.path)}`)), type: 'file', size: 0, mode: 0o644 });
    case 'opaque':
      return writeEntry(pack, { name: tarName(posix.join(entry.path, '.wh..wh..opq')), type: 'file', size: 0, mode: 0o644 });
    case 'tree':
      return writeTree(pack, entry.from, entry.to, { files: entry.maxFiles ?? Number.POSITIVE_INFINITY, bytes: entry.maxBytes ?? Number.POSITIVE_INFINITY });
    case 'raw': {
      const content = typeof entry.content === 'string' ? Buffer.from(entry.content) : entry.content;
      if (content === undefined) return writeEntry(pack, entry.header);
      return writeEntry(pack, { ...entry.header, size: content.length }, { size: content.length, source: () => Readable.from([content]) });
    }
  }
}

/** Writes the layer's tar to `file` and returns its digest (the diff_id) and size. */
async function writeLayerTar(spec: LayerSpec, file: string): Promise<{ diffId: string; tarSize: number }> {
  const pack = tar.pack();
  const hashing = hashingStream();
  const written = pipeline(pack, hashing.stream, createWriteStream(file));

  try {
    for (const entry of spec.entries) await writeLayerEntry(pack, entry);
    pack.finalize();
  } catch (error) {
    pack.destroy(error as Error);
    await written.catch(() => undefined);
    throw error;
  }
  await written;

  const { digest, size } = hashing.result();
  return { diffId: digest, tarSize: size };
}

async function hashFile(file: string): Promise<{ digest: string; size: number }> {
  const hashing = hashingStream();
  await pipeline(createReadStream(file), hashing.stream, async function (source) {
    for await (const _chunk of source);
  });
  return hashing.result();
}

async function compressLayer(tarFile: string, compression: Compression): Promise<string> {
  if (compression === 'none') return tarFile;

  if (compression === 'gzip') {
    const out = `${tarFile}.gz`;
    await pipeline(createReadStream(tarFile), createGzip(), createWriteStream(out));
    return out;
  }

  const out = `${tarFile}.zst`;
  await run('zstd', ['-q', '-f', '-3', tarFile, '-o', out]);
  return out;
}

function layerMediaType(compression: Compression): string {
  if (compression === 'gzip') return OCI_MEDIA_TYPES.layerGzip;
  if (compression === 'zstd') return OCI_MEDIA_TYPES.layerZstd;
  return OCI_MEDIA_TYPES.layer;
}

/** Writes JSON as a blob and returns its descriptor fields. */
async function writeJsonBlob(dir: string, value: unknown): Promise<{ digest: string; size: number }> {
  const bytes = Buffer.from(JSON.stringify(value));
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  await writeFile(blobPath(dir, digest), bytes);
  return { digest, size: bytes.length };
}

async function buildLayer(dir: string, spec: LayerSpec, index: number): Promise<BuiltLayer> {
  const scratch = await mkdtemp(join(dir, `.layer-${index}-`));

  try {
    const tarFile = join(scratch, 'layer.tar');
    const { diffId, tarSize } = await writeLayerTar(spec, tarFile);
    const blobFile = await compressLayer(tarFile, spec.compression);
    if (spec.truncateTo !== undefined) await truncate(blobFile, spec.truncateTo);

    const { digest, size } = await hashFile(blobFile);
    const target = blobPath(dir, digest);
    if (existsSync(target)) await rm(blobFile);
    else await rename(blobFile, target);

    return { digest, diffId, mediaType: layerMediaType(spec.compression), size, tarSize };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

function describeLayer(spec: LayerSpec): string {
  const paths = spec.entries.slice(0, 3).map((entry) => {
    if (entry.type === 'tree') return entry.to;
    if (entry.type === 'raw') return entry.header.name;
    return entry.path;
  });
  return `/bin/sh -c #(nop) ADD ${paths.join(' ')}${spec.entries.length > 3 ? ' …' : ''}`;
}

/**
 * Builds an OCI image layout in `dir` (created if missing). When `dir` already contains a layout,
 * the new image is added to its index.json, so one layout can contain several tagged images.
 */
export async function buildOciLayout(dir: string, spec: ImageSpec): Promise<BuiltImage> {
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));

  const layers: BuiltLayer[] = [];
  for (const [index, layerSpec] of spec.layers.entries()) layers.push(await buildLayer(dir, layerSpec, index));

  const architecture = spec.architecture ?? 'amd64';
  const config = {
    created: FIXED_MTIME.toISOString(),
    architecture,
    os: 'linux',
    config: spec.config ?? {},
    rootfs: { type: 'layers', diff_ids: layers.map((layer, i) => spec.layers[i]!.diffIdOverride ?? layer.diffId) },
    history: spec.layers.map((layerSpec) => ({ created: FIXED_MTIME.toISOString(), created_by: layerSpec.createdBy ?? describeLayer(layerSpec) })),
  };
  const configBlob = await writeJsonBlob(dir, config);

  const manifest = {
    schemaVersion: 2,
    mediaType: OCI_MEDIA_TYPES.manifest,
    config: { mediaType: OCI_MEDIA_TYPES.config, ...configBlob },
    layers: layers.map((layer) => ({ mediaType: layer.mediaType, digest: layer.digest, size: layer.size })),
  };
  const manifestBlob = await writeJsonBlob(dir, manifest);
  const platform = { architecture, os: 'linux' };

  let top: Record<string, unknown> = { mediaType: OCI_MEDIA_TYPES.manifest, ...manifestBlob, platform };
  if (spec.nestedIndex) {
    const nested = { schemaVersion: 2, mediaType: OCI_MEDIA_TYPES.index, manifests: [top] };
    top = { mediaType: OCI_MEDIA_TYPES.index, ...(await writeJsonBlob(dir, nested)) };
  }
  if (spec.tag !== undefined) top.annotations = { 'org.opencontainers.image.ref.name': spec.tag };

  const indexFile = join(dir, 'index.json');
  const index = existsSync(indexFile)
    ? (JSON.parse(await readFile(indexFile, 'utf8')) as { manifests: unknown[] })
    : { schemaVersion: 2, mediaType: OCI_MEDIA_TYPES.index, manifests: [] as unknown[] };
  index.manifests.push(top);
  await writeFile(indexFile, JSON.stringify(index));

  return { dir, manifestDigest: manifestBlob.digest, imageId: configBlob.digest, layers };
}

/** Adds every file below `root` to `pack` under its relative path. */
async function packFolder(pack: tar.Pack, root: string, relative = ''): Promise<void> {
  for (const name of (await readdir(join(root, relative))).sort()) {
    const path = relative ? `${relative}/${name}` : name;
    const hostPath = join(root, path);
    const info = await stat(hostPath);

    if (info.isDirectory()) {
      await writeEntry(pack, { name: `${path}/`, type: 'directory', mode: 0o755 });
      await packFolder(pack, root, path);
    } else {
      await writeEntry(pack, { name: path, type: 'file', mode: 0o644 }, { size: info.size, source: () => createReadStream(hostPath) });
    }
  }
}

/**
 * Builds a `docker save` archive at `file`. The 'oci' layout (the default) is what Docker 25
 * and later write: an OCI image layout plus manifest.json pointing into blobs/. The 'classic'
 * layout is what earlier Docker releases write: `<id>.json` configs, `<id>/layer.tar` layers
 * and manifest.json, with no image manifest. Layers keep the compression that the spec names.
 */
export async function buildDockerArchive(file: string, spec: ImageSpec & { layout?: 'oci' | 'classic' }): Promise<BuiltArchive> {
  const staging = await mkdtemp(join(tmpdir(), 'stratum-docker-archive-'));

  try {
    const image = await buildOciLayout(join(staging, 'oci'), { ...spec, nestedIndex: false });
    const repoTags = spec.tag === undefined ? [] : [spec.tag.includes(':') ? spec.tag : `stratum-test/image:${spec.tag}`];
    const hex = (digest: string) => digest.slice('sha256:'.length);

    let root: string;
    let manifestEntry: { Config: string; RepoTags: string[]; Layers: string[] };

    if (spec.layout === 'classic') {
      root = join(staging, 'classic');
      await mkdir(root);
      await rename(blobPath(image.dir, image.imageId), join(root, `${hex(image.imageId)}.json`));

      const layerPaths: string[] = [];
      for (const layer of image.layers) {
        const folder = hex(layer.diffId);
        layerPaths.push(`${folder}/layer.tar`);
        if (existsSync(join(root, folder))) continue;
        await mkdir(join(root, folder));
        await rename(blobPath(image.dir, layer.digest), join(root, folder, 'layer.tar'));
        await writeFile(join(root, folder, 'VERSION'), '1.0');
      }
      manifestEntry = { Config: `${hex(image.imageId)}.json`, RepoTags: repoTags, Layers: layerPaths };
    } else {
      root = image.dir;
      manifestEntry = {
        Config: `blobs/sha256/${hex(image.imageId)}`,
        RepoTags: repoTags,
        Layers: image.layers.map((layer) => `blobs/sha256/${hex(layer.digest)}`),
      };
    }
    await writeFile(join(root, 'manifest.json'), JSON.stringify([manifestEntry]));

    const pack = tar.pack();
    const written = pipeline(pack, createWriteStream(file));
    await packFolder(pack, root);
    pack.finalize();
    await written;

    return {
      file,
      manifestDigest: spec.layout === 'classic' ? undefined : image.manifestDigest,
      imageId: image.imageId,
      layers: image.layers,
    };
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}
