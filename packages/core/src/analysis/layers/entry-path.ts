import { parentOf } from '../filesystem.ts';
import { HostileLayerError, LayerLimitError } from './errors.ts';
import type { LayerLimits } from './limits.ts';

/**
 * Resolves `path` against `base` lexically, without the container's rule that '..' at '/' stays
 * at '/'. Returns undefined when a '..' climbs above the root, which only a hostile or broken
 * layer writes.
 */
function resolveLexically(path: string, base: string): string[] | undefined {
  const parts: string[] = [];
  const joined = path.startsWith('/') ? path : `${base}/${path}`;

  for (const part of joined.split('/')) {
    if (part === '' || part === '.') continue;
    if (part !== '..') {
      parts.push(part);
      continue;
    }
    if (!parts.length) return undefined;
    parts.pop();
  }

  return parts;
}

/** Checks the paths of one layer's entries against the image root and the path limits. */
export class EntryPaths {
  constructor(
    private readonly layer: string,
    private readonly limits: LayerLimits,
  ) {}

  /** Returns the absolute path of a tar entry name, or undefined for the root itself ('.' or './'). */
  entryPath(name: string): string | undefined {
    if (name.length > this.limits.maxPathLength) {
      throw new LayerLimitError(
        `${this.layer} has an entry whose name is ${name.length} characters long (${name.slice(0, 80)}…), over the limit of ${this.limits.maxPathLength}; raise limits.maxPathLength to read it`,
        this.layer,
        'maxPathLength',
        name.length,
      );
    }

    const parts = resolveLexically(name, '/');
    if (!parts) throw new HostileLayerError(`${this.layer} has an entry ${JSON.stringify(name)} whose '..' components leave the image root; the layer was rejected`, this.layer, name);
    if (!parts.length) return undefined;

    if (parts.length > this.limits.maxPathDepth) {
      throw new LayerLimitError(
        `${this.layer} has an entry ${parts.length} directories deep (${name.slice(0, 80)}…), over the limit of ${this.limits.maxPathDepth}; raise limits.maxPathDepth to read it`,
        this.layer,
        'maxPathDepth',
        parts.length,
      );
    }
    return `/${parts.join('/')}`;
  }

  /** Rejects a symlink whose target, resolved from the link's directory, climbs above the root. */
  checkSymlinkTarget(path: string, target: string): void {
    if (resolveLexically(target, parentOf(path))) return;
    throw new HostileLayerError(`${this.layer} has a symlink ${path} -> ${target} that points above the image root; the layer was rejected`, this.layer, path);
  }

  /** Returns the absolute path a hardlink names; tar writes it relative to the root. */
  hardlinkTarget(path: string, linkName: string): string {
    const parts = resolveLexically(linkName, '/');
    if (!parts?.length) throw new HostileLayerError(`${this.layer} has a hardlink ${path} to ${JSON.stringify(linkName)}, which is outside the image root; the layer was rejected`, this.layer, path);
    return `/${parts.join('/')}`;
  }
}
