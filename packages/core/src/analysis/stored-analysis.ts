import type { Digest } from '../digest.ts';
import type { FindingReachability, ReachabilityStatus } from '../finding.ts';
import type { AnalyzedLayer, AnalyzedPackage, ImageAnalysis, PackageReachability } from './model.ts';

/**
 * An analysis as the store keeps it: the summary and one record per package with its verdict.
 * File lists are kept apart (see AnalysisFiles), because only runtime evidence needs them.
 */
export interface StoredAnalysis {
  imageDigest: Digest;
  imageId?: Digest;
  analyzedAt: string;
  /** Changes on every stored change of the analysis, so readers can tell versions apart. */
  version: string;
  entrypoint: string[];
  layers: AnalyzedLayer[];
  warnings: string[];
  counts: Record<ReachabilityStatus, number>;
  packages: StoredPackage[];
}

export interface StoredPackage extends Omit<AnalyzedPackage, 'files'> {
  reachability: FindingReachability;
  /** Number of files the package installed that still exist; the list itself is in AnalysisFiles. */
  fileCount: number;
}

/** File lists per package id, for mapping observed files back to packages. */
export type AnalysisFiles = Record<string, string[]>;

/** Maximum evidence entries kept per package, in the order the analysers listed them. */
export const MAX_EVIDENCE_ENTRIES = 20;
/** Maximum length of a kept evidence entry or warning, in characters; longer ones are cut. */
export const MAX_TEXT_LENGTH = 1000;
/** Warnings kept per analysis; later ones are counted in a final warning. */
export const MAX_WARNINGS = 100;

export function truncateText(text: string): string {
  return text.length > MAX_TEXT_LENGTH ? `${text.slice(0, MAX_TEXT_LENGTH - 1)}…` : text;
}

function keptWarnings(warnings: string[]): string[] {
  const kept = warnings.slice(0, MAX_WARNINGS).map(truncateText);
  if (warnings.length > MAX_WARNINGS) kept.push(`${warnings.length - MAX_WARNINGS} more warnings were not stored`);
  return kept;
}

export function countStatuses(packages: readonly StoredPackage[]): Record<ReachabilityStatus, number> {
  const counts: Record<ReachabilityStatus, number> = { REACHABLE: 0, UNREACHABLE: 0, UNKNOWN: 0 };
  for (const pkg of packages) counts[pkg.reachability.status] += 1;
  return counts;
}

/** Returns UNKNOWN, which counts as reachable, for a package that no analyser returned a verdict for. */
function undecided(pkg: AnalyzedPackage): PackageReachability {
  return { packageId: pkg.id, status: 'UNKNOWN', method: 'none', evidence: [`no analyser decided ${pkg.type} ${pkg.name} ${pkg.version}`] };
}

/** Keeps an UNREACHABLE verdict only with evidence, so the store contains no unexplained one. */
function verdictOf(reachability: PackageReachability, at: string): FindingReachability {
  const evidence = reachability.evidence.slice(0, MAX_EVIDENCE_ENTRIES).map(truncateText);
  const status = reachability.status === 'UNREACHABLE' && evidence.length === 0 ? 'UNKNOWN' : reachability.status;
  return { status, method: reachability.method, evidence, analyzedAt: at };
}

/**
 * Converts an analysis into its stored form. `decidedAt` gives the time of each package's
 * verdict when it differs from the analysis time, as after runtime evidence.
 */
export function toStoredAnalysis(analysis: ImageAnalysis, version: string, decidedAt: Map<string, string> = new Map()): { stored: StoredAnalysis; files: AnalysisFiles } {
  const verdicts = new Map(analysis.reachability.map((entry) => [entry.packageId, entry]));
  const files: AnalysisFiles = {};

  const packages = analysis.packages.map((pkg): StoredPackage => {
    const { files: packageFiles, ...rest } = pkg;
    files[pkg.id] = packageFiles;
    const at = decidedAt.get(pkg.id) ?? analysis.analyzedAt;
    return { ...rest, fileCount: packageFiles.length, reachability: verdictOf(verdicts.get(pkg.id) ?? undecided(pkg), at) };
  });

  const stored: StoredAnalysis = {
    imageDigest: analysis.imageDigest,
    imageId: analysis.imageId,
    analyzedAt: analysis.analyzedAt,
    version,
    entrypoint: analysis.entrypoint.map(truncateText),
    layers: analysis.layers,
    warnings: keptWarnings(analysis.warnings),
    counts: countStatuses(packages),
    packages,
  };
  return { stored, files };
}

/** Rebuilds the analysis model from its stored form and file lists, for the analysers to run again. */
export function fromStoredAnalysis(stored: StoredAnalysis, files: AnalysisFiles): ImageAnalysis {
  return {
    imageDigest: stored.imageDigest,
    imageId: stored.imageId,
    analyzedAt: stored.analyzedAt,
    entrypoint: stored.entrypoint,
    layers: stored.layers,
    warnings: stored.warnings,
    packages: stored.packages.map(({ reachability: _reachability, fileCount: _fileCount, ...pkg }) => ({ ...pkg, files: files[pkg.id] ?? [] })),
    reachability: stored.packages.map((pkg) => ({ packageId: pkg.id, status: pkg.reachability.status, method: pkg.reachability.method, evidence: pkg.reachability.evidence })),
  };
}
