import type { FileNode } from './model.ts';

/** Linux gives up after 40 symlinks in one lookup (ELOOP); so do we. */
const MAX_SYMLINK_HOPS = 40;

/**
 * Normalizes a path inside the image root: absolute, no empty, '.' or '..' components. A '..'
 * at the root stays at the root, as it does for a process inside the container, so no path can
 * leave the image.
 */
export function normalizePath(path: string, base = '/'): string {
  const parts: string[] = [];
  const joined = path.startsWith('/') ? path : `${base}/${path}`;

  for (const part of joined.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') parts.pop();
    else parts.push(part);
  }

  return `/${parts.join('/')}`;
}

export function parentOf(path: string): string {
  const cut = path.lastIndexOf('/');
  return cut <= 0 ? '/' : path.slice(0, cut);
}

export function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** Reads content kept in the analysis's temporary folder. */
export type StoredContentReader = (node: FileNode) => Promise<Buffer | undefined>;

/**
 * The merged file system of an image: the tree a container starts with, after every layer's
 * additions, whiteouts and opaque directories. Only metadata, inspector facts and
 * references to stored content are held in memory.
 */
export class ImageFileSystem {
  readonly #nodes = new Map<string, FileNode>();
  readonly #children = new Map<string, Set<string>>();
  #readStored: StoredContentReader = async () => undefined;

  /** Wires the reader of kept content; the layer reader calls this once its temporary folder exists. */
  setContentReader(reader: StoredContentReader): void {
    this.#readStored = reader;
  }

  /** Adds or replaces a path. Parent directories that no layer wrote are implied. */
  add(node: FileNode): void {
    const existing = this.#nodes.get(node.path);
    // A directory replaced by a non-directory loses everything below it, as on overlayfs.
    if (existing?.kind === 'directory' && node.kind !== 'directory') this.remove(node.path, node.layerIndex);

    this.#nodes.set(node.path, node);
    this.#link(node.path);
  }

  /**
   * Removes a path and everything below it that layers under `layerIndex` wrote: a `.wh.` whiteout
   * removes the path, an opaque directory (`.wh..wh..opq`) calls this for each child. Entries the
   * same layer wrote stay, whatever order the tar lists them in.
   */
  remove(path: string, layerIndex: number): void {
    const node = this.#nodes.get(path);
    if (node && node.layerIndex >= layerIndex) return;

    for (const child of [...(this.#children.get(path) ?? [])]) this.remove(child, layerIndex);
    if (this.#children.get(path)?.size) return;

    this.#nodes.delete(path);
    this.#children.delete(path);
    this.#children.get(parentOf(path))?.delete(path);
  }

  /** Removes everything below `dir` that lower layers wrote; the directory itself stays. */
  clearBelow(dir: string, layerIndex: number): void {
    for (const child of [...(this.#children.get(dir) ?? [])]) this.remove(child, layerIndex);
  }

  /** Returns the node at exactly this path, without following a final symlink. */
  entry(path: string): FileNode | undefined {
    return this.#nodes.get(normalizePath(path));
  }

  /** Paths directly below a directory, sorted. */
  list(dir: string): FileNode[] {
    const children = [...(this.#children.get(normalizePath(dir)) ?? [])].sort();
    return children.map((child) => this.#nodes.get(child) ?? this.#implicitDirectory(child)).filter((node): node is FileNode => Boolean(node));
  }

  /** Every node, in path order. */
  *entries(): Iterable<FileNode> {
    for (const path of [...this.#nodes.keys()].sort()) yield this.#nodes.get(path)!;
  }

  get size(): number {
    return this.#nodes.size;
  }

  /**
   * Follows symlinks in every component and hardlinks at the end, inside the image root only.
   * Returns the final path, or undefined when a component is missing or the links loop.
   */
  resolvePath(path: string): string | undefined {
    let pending = normalizePath(path).split('/').filter(Boolean);
    // Index of the next component of `pending`, so that each step does not copy the array.
    let position = 0;
    let current = '/';
    let hops = 0;

    while (position < pending.length) {
      const next = current === '/' ? `/${pending[position]}` : `${current}/${pending[position]}`;
      position++;
      const node = this.#nodes.get(next);

      if (!node) {
        // Directories that no layer listed still exist when something below them does.
        if (this.#children.get(next)?.size) {
          current = next;
          continue;
        }
        return undefined;
      }

      if (node.kind === 'symlink' && node.linkTarget !== undefined) {
        if (++hops > MAX_SYMLINK_HOPS) return undefined;
        const target = normalizePath(node.linkTarget, current);
        pending = [...target.split('/').filter(Boolean), ...pending.slice(position)];
        position = 0;
        current = '/';
        continue;
      }

      current = next;
    }

    const last = this.#nodes.get(current);
    // A hardlink whose other name a later layer deleted still has its content, as on overlayfs.
    if (last?.kind === 'hardlink' && last.linkTarget) return this.#nodes.has(last.linkTarget) ? last.linkTarget : current;
    return current;
  }

  /** Returns the node a path leads to after following links, or undefined. */
  resolve(path: string): FileNode | undefined {
    const resolved = this.resolvePath(path);
    return resolved === undefined ? undefined : (this.#nodes.get(resolved) ?? this.#implicitDirectory(resolved));
  }

  /** Content of a regular file that the layer reader kept; undefined when it was not selected or too large. */
  async read(path: string): Promise<Buffer | undefined> {
    const node = this.resolve(path);
    if (!node || (node.kind !== 'file' && node.kind !== 'hardlink') || !node.stored) return undefined;
    return this.#readStored(node);
  }

  #implicitDirectory(path: string): FileNode | undefined {
    if (path !== '/' && !this.#children.get(path)?.size) return undefined;
    return { path, kind: 'directory', size: 0, mode: 0o755, layerIndex: 0 };
  }

  #link(path: string): void {
    let child = path;
    while (child !== '/') {
      const parent = parentOf(child);
      let set = this.#children.get(parent);
      if (!set) this.#children.set(parent, (set = new Set()));
      if (set.has(child)) return;
      set.add(child);
      child = parent;
    }
  }
}
