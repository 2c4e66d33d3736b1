import { normalizePath } from '../filesystem.ts';
import type { AnalyzedPackage, PackageReachability } from '../model.ts';

/**
 * Applies what a running container was observed to load (from an eBPF agent or a profiler):
 * a package with an observed file, or named by its purl or name, becomes REACHABLE with method
 * 'runtime', whatever the static analysis decided. Packages with no observation keep their
 * static result. Returns a new list in the order of `reachability`; nothing is changed in place.
 */
export function applyRuntimeEvidence(
  packages: AnalyzedPackage[],
  reachability: PackageReachability[],
  observed: { files: string[]; packages: string[] },
  at: string,
): PackageReachability[] {
  const observedFiles = new Set(observed.files.map(mergedUsrPath));
  const observedNames = new Set(observed.packages.map((name) => name.trim()).filter(Boolean));
  const byId = new Map(packages.map((pkg) => [pkg.id, pkg]));

  return reachability.map((verdict) => {
    const pkg = byId.get(verdict.packageId);
    if (!pkg) return verdict;

    const evidence: string[] = [];
    for (const file of pkg.files) {
      if (observedFiles.has(mergedUsrPath(file))) evidence.push(`${file} was observed loaded in a running container at ${at} → ${pkg.name} ${pkg.version}`);
      if (evidence.length >= 3) break;
    }
    const namedBy = [pkg.purl, purlWithoutQualifiers(pkg.purl), pkg.id, pkg.name].find((name) => observedNames.has(name));
    if (namedBy) evidence.push(`${namedBy} was observed in use in a running container at ${at}`);

    if (!evidence.length) return verdict;
    return { packageId: verdict.packageId, status: 'REACHABLE', method: 'runtime', evidence };
  });
}

/**
 * Agents report the path a process opened, which on merged-/usr images is often the /lib or
 * /bin name of a file that the package database lists under /usr, or the reverse. Both sides
 * are compared in their /usr form. On an image without merged /usr this can match a package's
 * file that has the same name in the other folder, which errs towards REACHABLE, never towards
 * hiding a package that ran.
 */
function mergedUsrPath(path: string): string {
  const normalized = normalizePath(path);
  return /^\/(bin|sbin|lib|lib32|lib64|libx32)(\/|$)/.test(normalized) ? `/usr${normalized}` : normalized;
}

function purlWithoutQualifiers(purl: string): string {
  return purl.replace(/[?#].*$/, '');
}
