import type { ContentSelector } from '../model.ts';
import { KiB, readKeptText, type ReaderContext } from './common.ts';

/** The distribution an image is built on, from os-release(5). */
export interface Distro {
  /** ID, for example 'debian', 'alpine', 'rhel'. */
  id: string;
  /** VERSION_ID, for example '12' or '3.19.1'; absent on rolling releases such as Debian sid. */
  versionId?: string;
  /** The purl `distro` qualifier: 'debian-12', or the id alone without a version. */
  qualifier: string;
}

/** systemd's os-release(5) names /etc/os-release first and /usr/lib/os-release as the fallback. */
export const OS_RELEASE_PATHS = ['/etc/os-release', '/usr/lib/os-release'];

export const osReleaseSelector: ContentSelector = {
  maxBytes: 64 * KiB,
  keep: (path) => OS_RELEASE_PATHS.includes(path),
};

/** Parses the KEY=value lines of os-release; values may be quoted with ' or " and use backslash escapes. */
export function parseOsRelease(text: string): Map<string, string> {
  const fields = new Map<string, string>();

  for (const rawLine of text.split('\n')) {
    const line = rawLine.trim();
    if (!line || line.startsWith('#')) continue;

    const match = /^([A-Z0-9_]+)=(.*)$/.exec(line);
    if (!match) continue;

    fields.set(match[1]!, unquote(match[2]!));
  }

  return fields;
}

function unquote(value: string): string {
  const quote = value[0];
  if ((quote === '"' || quote === "'") && value.endsWith(quote) && value.length >= 2) {
    const inner = value.slice(1, -1);
    return quote === '"' ? inner.replace(/\\(.)/g, '$1') : inner;
  }
  return value;
}

/** Reads the image's distribution; undefined when no os-release file exists or it has no ID. */
export async function readDistro(context: ReaderContext): Promise<Distro | undefined> {
  for (const path of OS_RELEASE_PATHS) {
    const text = await readKeptText(context, path);
    if (text === undefined) continue;

    const fields = parseOsRelease(text);
    const id = fields.get('ID')?.toLowerCase();
    if (!id) {
      context.warnings.push(`${path}: no ID line, so OS package URLs carry no distro qualifier`);
      return undefined;
    }

    const versionId = fields.get('VERSION_ID');
    return { id, versionId, qualifier: versionId ? `${id}-${versionId}` : id };
  }

  return undefined;
}
