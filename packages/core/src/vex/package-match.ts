import { PackageURL } from 'packageurl-js';

/** A purl reduced to the parts that matching compares. */
export interface NormalizedPurl {
  type: string;
  namespace?: string;
  name: string;
  version?: string;
  qualifiers: Record<string, string>;
  subpath?: string;
}

/** Types whose names and namespaces are case-insensitive per the purl specification's type definitions. */
const CASE_INSENSITIVE_TYPES = new Set(['deb', 'apk', 'rpm', 'npm', 'pypi', 'github', 'bitbucket', 'golang', 'hex', 'composer', 'nuget', 'alpm']);

function decode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

const cache = new Map<string, NormalizedPurl | null>();

/**
 * Parses and normalizes a purl: lowercase type, lowercase names for case-insensitive types,
 * PyPI names with `_` and `.` folded to `-`, percent-encoding removed. Returns undefined for
 * text that is not a purl. Results are cached, because one document names the same purls often.
 */
export function normalizePurl(value: string): NormalizedPurl | undefined {
  const cached = cache.get(value);
  if (cached !== undefined) return cached ?? undefined;

  let result: NormalizedPurl | null = null;
  try {
    const purl = PackageURL.fromString(value);
    const type = purl.type.toLowerCase();
    const fold = (text: string | undefined | null) => {
      if (text === undefined || text === null) return undefined;
      const decoded = decode(text);
      if (type === 'pypi') return decoded.toLowerCase().replace(/[_.]+/g, '-');
      return CASE_INSENSITIVE_TYPES.has(type) ? decoded.toLowerCase() : decoded;
    };
    const qualifiers: Record<string, string> = {};
    for (const [key, qualifier] of Object.entries(purl.qualifiers ?? {})) {
      // packageurl-js accepts a qualifier without a value; such a qualifier constrains nothing.
      if (qualifier !== undefined && qualifier !== '') qualifiers[key.toLowerCase()] = decode(String(qualifier));
    }
    result = {
      type,
      namespace: fold(purl.namespace),
      name: fold(purl.name)!,
      version: purl.version ? decode(purl.version) : undefined,
      qualifiers,
      subpath: purl.subpath ?? undefined,
    };
  } catch {
    result = null;
  }

  if (cache.size > 50_000) cache.clear();
  cache.set(value, result);
  return result ?? undefined;
}

/**
 * Tells whether a statement's purl covers a package's purl. Type, namespace and name must be
 * equal; a statement without version covers every version; each qualifier the statement
 * names must be present on the package with the same value, and extra qualifiers on the
 * package are ignored.
 */
export function purlCovers(statementPurl: string, packagePurl: string): boolean {
  const statement = normalizePurl(statementPurl);
  const pkg = normalizePurl(packagePurl);
  if (!statement || !pkg) return false;

  if (statement.type !== pkg.type || statement.name !== pkg.name) return false;
  if ((statement.namespace ?? '') !== (pkg.namespace ?? '')) return false;
  if (statement.version !== undefined && statement.version !== pkg.version) return false;
  if (statement.subpath !== undefined && statement.subpath !== pkg.subpath) return false;

  return Object.entries(statement.qualifiers).every(([key, value]) => pkg.qualifiers[key] === value);
}

/** The purl's identity without version and qualifiers, used to index statements by package. */
export function purlKey(value: string): string | undefined {
  const purl = normalizePurl(value);
  return purl ? `${purl.type}/${purl.namespace ?? ''}/${purl.name}` : undefined;
}
