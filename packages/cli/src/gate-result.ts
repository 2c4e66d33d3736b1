/**
 * The gate result as the client requests it from the API: the fields of the `evaluateGate`
 * query below, which every output writer reads.
 */
export type GateDecision = 'PASS' | 'FAIL' | 'PENDING';

export interface GateFindingView {
  rule: string;
  kev: boolean;
  epss: number | null;
  risk: { score: number; tier: string };
  finding: {
    id: string;
    vulnerabilityId: string;
    severity: string;
    title: string | null;
    primaryUrl: string | null;
    fixedVersion: string | null;
    origin: string;
    reachability: { status: string; evidence: string[] };
    cvssScore: number | null;
    package: { name: string; version: string; type: string; purl: string | null; path: string | null };
    layer: { index: number; digest: string | null; diffId: string | null; createdBy: string | null } | null;
  };
}

export interface GateResultView {
  decision: GateDecision;
  pendingReason: string | null;
  reasons: string[];
  /** False when the requested repository has no stored image at all; null for a digest. Servers before this field omit it. */
  repositoryKnown?: boolean | null;
  findingsTruncated: boolean;
  policySource: string;
  evaluatedAt: string;
  policy: unknown;
  image: {
    digest: string | null;
    imageId: string | null;
    repository: string | null;
    tags: string[];
    scan: { scanner: string; importedAt: string } | null;
    baseImage: { name: string | null } | null;
  } | null;
  summary: {
    total: number;
    failing: number;
    bySeverity: Array<{ severity: string; count: number }>;
    byOrigin: Array<{ origin: string; count: number }>;
    ignored: Array<{ reason: string; count: number }>;
  } | null;
  findings: GateFindingView[];
}

export const GATE_QUERY = `query StratumGate($imageDigest: String, $repository: String, $tag: String, $policy: JSON) {
  evaluateGate(imageDigest: $imageDigest, repository: $repository, tag: $tag, policy: $policy) {
    decision pendingReason reasons repositoryKnown findingsTruncated policySource evaluatedAt policy
    image { digest imageId repository tags scan { scanner importedAt } baseImage { name } }
    summary { total failing bySeverity { severity count } byOrigin { origin count } ignored { reason count } }
    findings {
      rule kev epss
      risk { score tier }
      finding {
        id vulnerabilityId severity title primaryUrl fixedVersion origin cvssScore reachability { status evidence }
        package { name version type purl path }
        layer { index digest diffId createdBy }
      }
    }
  }
}`;

/** The image as the pipeline requested it, for reports written before the server has found the image. */
export interface GateRequestTarget {
  imageDigest?: string;
  repository?: string;
  tag?: string;
}

/** Formats the image for people: repository:tag@digest, with the parts that are known. */
export function imageName(result: GateResultView | undefined, target: GateRequestTarget): string {
  const repository = result?.image?.repository ?? target.repository;
  const digest = result?.image?.digest ?? result?.image?.imageId ?? target.imageDigest;
  const tag = target.tag;

  let name = repository ?? '';
  if (tag) name += `:${tag}`;
  if (digest) name += name ? `@${digest}` : digest;
  return name || 'unknown image';
}
