import type { Finding, FindingReachability, ReachabilityStatus } from '../finding.ts';
import type { Image } from '../image/model.ts';
import type { IngestContext } from '../ingest/context.ts';
import type { Logger } from '../logger.ts';
import { normalizePurl } from '../vex/package-match.ts';
import { normalizePath } from './filesystem.ts';
import type { StoredAnalysis, StoredPackage } from './stored-analysis.ts';

/** Ecosystems of the package readers: the purl types of the packages they return. */
type Ecosystem = 'deb' | 'apk' | 'rpm' | 'npm' | 'pypi' | 'maven' | 'golang';

const OS_ECOSYSTEMS: readonly Ecosystem[] = ['deb', 'apk', 'rpm'];

/**
 * Package types as scanners name them, mapped to ecosystems. Trivy names OS packages by their
 * distribution, Grype and syft by their package manager; ECR basic scanning names no type.
 */
const ECOSYSTEM_OF_TYPE: Record<string, Ecosystem> = {
  deb: 'deb', debian: 'deb', ubuntu: 'deb', dpkg: 'deb',
  apk: 'apk', alpine: 'apk', wolfi: 'apk', chainguard: 'apk',
  rpm: 'rpm', redhat: 'rpm', centos: 'rpm', rocky: 'rpm', alma: 'rpm', almalinux: 'rpm', amazon: 'rpm', oracle: 'rpm', fedora: 'rpm',
  suse: 'rpm', sles: 'rpm', opensuse: 'rpm', 'opensuse.leap': 'rpm', 'opensuse.tumbleweed': 'rpm', photon: 'rpm', mariner: 'rpm', 'cbl-mariner': 'rpm', azurelinux: 'rpm',
  npm: 'npm', 'node-pkg': 'npm', nodejs: 'npm', node: 'npm', yarn: 'npm', pnpm: 'npm', javascript: 'npm',
  pypi: 'pypi', python: 'pypi', 'python-pkg': 'pypi', pip: 'pypi', pipenv: 'pypi', poetry: 'pypi', uv: 'pypi', wheel: 'pypi', egg: 'pypi',
  maven: 'maven', jar: 'maven', java: 'maven', 'java-archive': 'maven', pom: 'maven', gradle: 'maven', sbt: 'maven', war: 'maven', ear: 'maven',
  golang: 'golang', go: 'golang', gobinary: 'golang', gomod: 'golang', 'go-module': 'golang',
};

/** Ecosystems a finding may belong to; a type no scanner documents (ECR basic's "unknown") may be any OS package. */
function ecosystemsOf(type: string, purlType: string | undefined): readonly Ecosystem[] {
  const known = ECOSYSTEM_OF_TYPE[(purlType ?? type).toLowerCase()] ?? ECOSYSTEM_OF_TYPE[type.toLowerCase()];
  return known ? [known] : OS_ECOSYSTEMS;
}

/**
 * Normalizes a package name the way its ecosystem compares names: PyPI per PEP 503 (case and
 * runs of `-`, `_`, `.` folded), names of case-insensitive ecosystems lowercased, RPM and Maven as written.
 */
export function normalizeName(ecosystem: string, name: string): string {
  if (ecosystem === 'pypi') return name.toLowerCase().replace(/[-_.]+/g, '-');
  if (ecosystem === 'rpm' || ecosystem === 'maven') return name;
  return name.toLowerCase();
}

/**
 * Normalizes a version for comparison: the epoch of deb and rpm versions is dropped, because
 * Trivy moves it into a purl qualifier while dpkg and syft keep it in the version; Go's leading v too.
 */
function normalizeVersion(ecosystem: string, version: string): string {
  if (ecosystem === 'deb' || ecosystem === 'rpm') return version.replace(/^\d+:/, '');
  if (ecosystem === 'golang') return version.replace(/^v/, '');
  return version;
}

function purlIdentity(purl: string | undefined): string | undefined {
  const parsed = purl ? normalizePurl(purl) : undefined;
  if (!parsed?.version) return undefined;
  return `${parsed.type}/${parsed.namespace ?? ''}/${parsed.name}@${normalizeVersion(parsed.type, parsed.version)}`;
}

/** Indexes of an analysis's packages by purl, by ecosystem+name+version and by source package name. */
class PackageIndex {
  readonly #byPurl = new Map<string, StoredPackage[]>();
  readonly #byName = new Map<string, StoredPackage[]>();
  readonly #bySource = new Map<string, StoredPackage[]>();

  constructor(packages: readonly StoredPackage[]) {
    for (const pkg of packages) {
      const purl = purlIdentity(pkg.purl);
      if (purl) add(this.#byPurl, purl, pkg);

      const ecosystem = pkg.type.toLowerCase();
      const version = normalizeVersion(ecosystem, pkg.version);
      add(this.#byName, `${ecosystem}|${normalizeName(ecosystem, pkg.name)}|${version}`, pkg);
      // Maven findings name a package group:artifact, so the group from the purl is indexed too.
      const namespace = normalizePurl(pkg.purl)?.namespace;
      if (ecosystem === 'maven' && namespace) add(this.#byName, `${ecosystem}|${namespace}:${pkg.name}|${version}`, pkg);
      if (pkg.sourceName) add(this.#bySource, `${ecosystem}|${normalizeName(ecosystem, pkg.sourceName)}`, pkg);
    }
  }

  /** Packages the finding names, and how they were matched; empty when none is installed. */
  match(finding: Finding): { packages: StoredPackage[]; by: string } {
    const purl = purlIdentity(finding.package.purl);
    const byPurl = purl ? this.#byPurl.get(purl) : undefined;
    if (byPurl?.length) return { packages: byPurl, by: 'purl' };

    const ecosystems = ecosystemsOf(finding.package.type, finding.package.purl ? normalizePurl(finding.package.purl)?.type : undefined);
    const byName = ecosystems.flatMap((ecosystem) => this.#byName.get(`${ecosystem}|${normalizeName(ecosystem, finding.package.name)}|${normalizeVersion(ecosystem, finding.package.version)}`) ?? []);
    if (byName.length) return { packages: byName, by: 'name and version' };

    // Debian's and Ubuntu's trackers, and scanners that use them, name the source package.
    const bySource = ecosystems
      .filter((ecosystem) => OS_ECOSYSTEMS.includes(ecosystem))
      .flatMap((ecosystem) => {
        const version = normalizeVersion(ecosystem, finding.package.version);
        const candidates = this.#bySource.get(`${ecosystem}|${normalizeName(ecosystem, finding.package.name)}`) ?? [];
        return candidates.filter((pkg) => normalizeVersion(ecosystem, pkg.sourceVersion ?? pkg.version) === version || normalizeVersion(ecosystem, pkg.version) === version);
      });
    return { packages: bySource, by: 'source package' };
  }
}

function add(map: Map<string, StoredPackage[]>, key: string, pkg: StoredPackage): void {
  const list = map.get(key);
  if (list) list.push(pkg);
  else map.set(key, [pkg]);
}

/** REACHABLE first, because when the report does not name the copy it means, the most exposed one decides. */
const EXPOSURE: Record<ReachabilityStatus, number> = { REACHABLE: 0, UNKNOWN: 1, UNREACHABLE: 2 };

/** True when the finding's file path lies in the package's location, with or without the leading slash. */
function locatedIn(path: string | undefined, location: string | undefined): boolean {
  if (!path || !location) return false;
  const file = normalizePath(path);
  const folder = normalizePath(location);
  return file === folder || file.startsWith(`${folder}/`);
}

/** Picks one of several matching packages: the one at the finding's path, else the most exposed. */
function choose(finding: Finding, candidates: StoredPackage[]): StoredPackage {
  const located = candidates.filter((pkg) => locatedIn(finding.package.path, pkg.location));
  const pool = located.length > 0 ? located : candidates;
  return [...pool].sort((a, b) => EXPOSURE[a.reachability.status] - EXPOSURE[b.reachability.status])[0]!;
}

/**
 * True when the analysis's layers are the image's layers, so a package's layer index can be
 * used as the finding's. An image whose layers no push or report named yet has nothing to contradict.
 */
function sameLayers(image: Image, analysis: StoredAnalysis): boolean {
  if (image.layers.length === 0) return true;
  if (image.layers.length !== analysis.layers.length) return false;
  return analysis.layers.every((layer, index) => {
    const known = image.layers[index]!;
    return !layer.diffId || !known.diffId || layer.diffId === known.diffId;
  });
}

function sameVerdict(a: FindingReachability | undefined, b: FindingReachability): boolean {
  return a !== undefined && a.status === b.status && a.method === b.method && a.analyzedAt === b.analyzedAt && a.evidence.join('\n') === b.evidence.join('\n');
}

export interface ApplyAnalysisResult {
  findings: Finding[];
  /** Findings whose reachability or layer changed. */
  changed: number;
  /** Findings that matched no installed package. */
  unmatched: number;
}

/**
 * Sets each finding's reachability from the analysis of its image, and its layer where the
 * report named none. Findings that do not change are returned as the same objects.
 *
 * A finding that matches no installed package gets UNKNOWN, never UNREACHABLE: the scanner saw
 * something that the package readers did not, so nothing shows the code cannot run.
 */
export function applyAnalysisToFindings(analysis: StoredAnalysis, image: Image, findings: Finding[], logger: Logger): ApplyAnalysisResult {
  const index = new PackageIndex(analysis.packages);
  const layersUsable = sameLayers(image, analysis);
  if (!layersUsable) logger.warn('analysed layers differ from the image record; layers from content are not used', { imageKey: image.key, imageDigest: analysis.imageDigest });

  let changed = 0;
  let unmatched = 0;
  const disagreements: Array<{ findingId: string; reportLayer: number; contentLayer: number }> = [];

  const updated = findings.map((finding) => {
    const { packages, by } = index.match(finding);
    const pkg = packages.length > 0 ? choose(finding, packages) : undefined;
    if (!pkg) unmatched += 1;

    const reachability: FindingReachability = pkg
      ? pkg.reachability
      : {
          status: 'UNKNOWN',
          method: 'package-match',
          evidence: [`no installed package matched ${finding.package.type} ${finding.package.name} ${finding.package.version} in the image's content`],
          analyzedAt: analysis.analyzedAt,
        };

    let layerIndex = finding.layerIndex;
    if (pkg && layersUsable) {
      // The report's layer wins when it named one; content fills the gap when it did not.
      if (finding.layer === undefined) layerIndex = pkg.layerIndex;
      else if (finding.layerIndex !== undefined && finding.layerIndex !== pkg.layerIndex) {
        disagreements.push({ findingId: finding.id, reportLayer: finding.layerIndex, contentLayer: pkg.layerIndex });
      }
    }

    if (sameVerdict(finding.reachability, reachability) && layerIndex === finding.layerIndex) return finding;
    changed += 1;
    if (pkg && by === 'source package') logger.debug('matched a finding by source package', { imageKey: image.key, findingId: finding.id, packageId: pkg.id });
    return { ...finding, reachability, layerIndex };
  });

  if (disagreements.length > 0) {
    logger.info('report and content disagree on layers; keeping the report', { imageKey: image.key, findings: disagreements.length, examples: disagreements.slice(0, 5) });
  }
  return { findings: updated, changed, unmatched };
}

/**
 * Finds the stored analysis of an image by any digest it is known by. A report may name the
 * image ID while the analysis was stored under the manifest digest, or the other way round.
 */
export async function loadAnalysisFor(context: IngestContext, image: Pick<Image, 'key' | 'digest' | 'imageId'>): Promise<StoredAnalysis | undefined> {
  const digests = [image.digest, image.key, image.imageId].filter((digest): digest is string => Boolean(digest));
  const head = await context.store.analysis.findHead(digests);
  return head ? context.store.analysis.getVersion(head) : undefined;
}
