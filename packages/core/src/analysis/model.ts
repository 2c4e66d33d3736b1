import type { Digest } from '../digest.ts';
import type { ReachabilityStatus } from '../finding.ts';

/**
 * The shared vocabulary of content analysis. The layer reader fills a file tree, the package
 * readers and the reachability analysers read it, and the result is one ImageAnalysis per image.
 */

export type FileKind = 'file' | 'directory' | 'symlink' | 'hardlink' | 'other';

/** One path of the merged file system, as the topmost layer that wrote it left it. */
export interface FileNode {
  /** Absolute and normalized: starts with '/', no '.', '..', duplicate or trailing slashes. */
  path: string;
  kind: FileKind;
  size: number;
  mode: number;
  /** A symlink's target as written in the tar (relative or absolute); a hardlink's absolute target path. */
  linkTarget?: string;
  /** Index of the layer (0 = bottom) that last wrote this path. */
  layerIndex: number;
  /**
   * Small facts that content inspectors extracted while the layer streamed past, by inspector
   * name, for example the ELF dynamic section or a jar's pom.properties. Content itself is
   * not kept in memory.
   */
  facts?: Record<string, unknown>;
  /** Set when the content was kept in the analysis's private temporary folder; read it with ImageFileSystem.read. */
  stored?: boolean;
}

/**
 * An inspector of files while their layer streams past. The reader calls `wants` with the path,
 * size and first bytes. When it returns true, the reader buffers the whole file (up to the
 * per-file limit), calls `inspect`, and keeps only the returned facts on the node. One file is
 * buffered at a time, so memory stays bounded by the largest inspected file.
 */
export interface ContentInspector<T = unknown> {
  name: string;
  /** At most this many bytes of content are offered; larger files are skipped and noted. */
  maxBytes: number;
  wants(path: string, size: number, head: Buffer): boolean;
  /** `content` is valid only during the call: the layer reader reuses its memory, so the facts must not keep it or a slice of it. */
  inspect(path: string, content: Buffer): T | undefined;
}

/**
 * Says which files the analysis reads again after the layers are read (package databases,
 * package.json files, scripts, Python and JavaScript sources). The reader writes their content
 * to the private temporary folder, never to memory.
 */
export interface ContentSelector {
  /** Largest file kept, in bytes. */
  maxBytes: number;
  keep(path: string, size: number): boolean;
}

/** An installed package found in the image's content. */
export interface AnalyzedPackage {
  /** Stable within an analysis: the purl without qualifiers, plus the location for language packages. */
  id: string;
  /** Ecosystem: 'deb', 'apk', 'rpm', 'npm', 'pypi', 'maven', 'golang'. */
  type: string;
  name: string;
  version: string;
  purl: string;
  /** Index of the layer that installed the version that is present at the top. */
  layerIndex: number;
  /** The database entry, manifest or binary the package was read from, for example /var/lib/dpkg/status. */
  source: string;
  /** For language packages, the folder or file the package lives in, for example /app/node_modules/lodash. */
  location?: string;
  /** Absolute paths the package installed that still exist at the top. */
  files: string[];
  /** Source package or distribution metadata that scanners match on, for example a deb's source package. */
  sourceName?: string;
  sourceVersion?: string;
  /** Distribution qualifier for OS packages, for example 'debian-12'. */
  distro?: string;
}

/** The verdict for one package. UNREACHABLE only with evidence a person can check. */
export interface PackageReachability {
  packageId: string;
  status: ReachabilityStatus;
  /** The analysis that decided, for example 'elf-linkage', 'node-imports', 'python-imports', 'runtime', 'shell-entrypoint'. */
  method: string;
  /** Chains such as `/usr/sbin/nginx → libssl.so.3 → libssl3 3.0.11-1`, or why nothing reaches the package. */
  evidence: string[];
}

export interface AnalyzedLayer {
  index: number;
  digest?: Digest;
  diffId?: Digest;
  entries: number;
  /** Uncompressed bytes read. */
  bytes: number;
}

export interface ImageAnalysis {
  /** Manifest digest of the analysed image, or its config digest (image ID) when no manifest exists. */
  imageDigest: Digest;
  imageId?: Digest;
  analyzedAt: string;
  /** The command the container starts, Entrypoint followed by Cmd, as the config states them. */
  entrypoint: string[];
  layers: AnalyzedLayer[];
  packages: AnalyzedPackage[];
  reachability: PackageReachability[];
  /** Things a person should know: a skipped oversized file, an unreadable database, a dynamic require. */
  warnings: string[];
}
