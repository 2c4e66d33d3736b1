import { InvalidInputError, NotFoundError } from '../errors.ts';
import type { Finding } from '../finding.ts';
import type { Image } from '../image/model.ts';
import { countFindings, withOrigins } from '../ingest/attribute.ts';
import type { IngestContext } from '../ingest/context.ts';
import { nextVersion, type AnalysisHead, type RuntimeObservation } from '../store/analysis-store.ts';
import { applyObservedUse } from './analyze-image.ts';
import { applyAnalysisToFindings } from './apply-to-findings.ts';
import type { ImageAnalysis } from './model.ts';
import { fromStoredAnalysis, toStoredAnalysis, type StoredAnalysis } from './stored-analysis.ts';

/** The actor of analysis changes made by the pipeline itself, for the audit trail. */
export const ANALYSIS_ACTOR = 'stratum:analysis';

export interface AnalysisContext extends IngestContext {
  /** The actor of the change, for the audit trail. */
  actor: string;
}

export interface StoreAnalysisResult {
  analysis: StoredAnalysis;
  /** Current findings whose reachability or layer changed. */
  findingsUpdated: number;
}

/** Limits on one runtime evidence report; an agent sends more in several reports. */
export const RUNTIME_EVIDENCE_LIMITS = { files: 5000, packages: 1000, length: 4096, source: 200 } as const;

export interface RuntimeEvidenceInput {
  files: string[];
  packages: string[];
  source: string;
}

/**
 * Stores an analysis as the image's current one and applies it to the image's current
 * findings. Runtime observations recorded earlier are applied again, so re-analysing an
 * image never loses what an agent saw running.
 */
export async function storeImageAnalysis(context: AnalysisContext, analysis: ImageAnalysis): Promise<StoreAnalysisResult> {
  const head = await context.store.analysis.getHead(analysis.imageDigest);
  const expected = head?.imageDigest === analysis.imageDigest ? head.version : null;

  const observations = await context.store.analysis.listObservations(analysis.imageDigest);
  const { withEvidence, decidedAt } = await applyObservations(analysis, observations);
  const { stored, files } = toStoredAnalysis(withEvidence, nextVersion(expected ?? undefined), decidedAt);
  await context.store.analysis.put(stored, files, expected);

  const findingsUpdated = await reapplyAnalysis(context, stored);
  context.logger.info('stored image analysis', {
    tenant: context.store.tenant,
    imageDigest: stored.imageDigest,
    version: stored.version,
    packages: stored.packages.length,
    ...stored.counts,
    observations: observations.length,
    findingsUpdated,
  });
  return { analysis: stored, findingsUpdated };
}

/**
 * Records files and packages an agent saw loaded in a running container, turns the packages
 * they belong to REACHABLE with method 'runtime', and updates the image's findings. The
 * observation is appended first, so a failure later loses nothing: the next analysis applies it.
 */
export async function recordRuntimeEvidence(context: AnalysisContext, imageDigest: string, input: RuntimeEvidenceInput): Promise<StoreAnalysisResult & { observation: RuntimeObservation; packagesChanged: number }> {
  validateEvidence(input);
  const head = await context.store.analysis.getHead(imageDigest);
  if (!head) throw new NotFoundError('Image analysis', imageDigest, 'analyse the image first with the analyzeImage mutation or npm run analyze');

  const at = context.clock.now().toISOString();
  const observation = await context.store.analysis.appendObservation(head.imageDigest, { at, actor: context.actor, source: input.source, files: input.files, packages: input.packages });

  const { stored, packagesChanged } = await withRuntimeEvidence(context, head, observation);
  const findingsUpdated = await reapplyAnalysis(context, stored);
  context.logger.info('recorded runtime evidence', { tenant: context.store.tenant, imageDigest: head.imageDigest, actor: context.actor, source: input.source, files: input.files.length, packages: input.packages.length, packagesChanged, findingsUpdated });
  return { analysis: stored, findingsUpdated, observation, packagesChanged };
}

function validateEvidence(input: RuntimeEvidenceInput): void {
  const limits = RUNTIME_EVIDENCE_LIMITS;
  if (input.files.length === 0 && input.packages.length === 0) throw new InvalidInputError('Missing runtime evidence: pass at least one file or package observed loaded', { path: 'files' });
  if (input.files.length > limits.files) throw new InvalidInputError(`Too many files: ${input.files.length}, at most ${limits.files} per report; send the rest in another report`, { path: 'files', value: input.files.length });
  if (input.packages.length > limits.packages) throw new InvalidInputError(`Too many packages: ${input.packages.length}, at most ${limits.packages} per report; send the rest in another report`, { path: 'packages', value: input.packages.length });

  const source = input.source.trim();
  if (!source || source.length > limits.source) throw new InvalidInputError(`Invalid source ${JSON.stringify(input.source.slice(0, 50))}: name the agent or profiler in 1 to ${limits.source} characters`, { path: 'source', value: input.source });

  input.files.forEach((file, index) => {
    if (!file.startsWith('/') || file.length > limits.length || file.includes('\0')) {
      throw new InvalidInputError(`Invalid files[${index}] ${JSON.stringify(file.slice(0, 100))}: expected an absolute path inside the image of at most ${limits.length} characters`, { path: `files[${index}]`, value: file });
    }
  });
  input.packages.forEach((pkg, index) => {
    if (!pkg.trim() || pkg.length > limits.length) {
      throw new InvalidInputError(`Invalid packages[${index}] ${JSON.stringify(pkg.slice(0, 100))}: expected a package name or purl of 1 to ${limits.length} characters`, { path: `packages[${index}]`, value: pkg });
    }
  });
}

/** Applies one new observation to the current version and stores the result as the next version. */
async function withRuntimeEvidence(context: AnalysisContext, head: AnalysisHead, observation: RuntimeObservation): Promise<{ stored: StoredAnalysis; packagesChanged: number }> {
  const current = await context.store.analysis.getVersion(head);
  if (!current) throw new NotFoundError('Image analysis version', `${head.imageDigest} ${head.version}`, 'the analysis was replaced meanwhile; send the evidence again');
  const files = await context.store.analysis.getFiles(head);

  const model = fromStoredAnalysis(current, files);
  const reachability = applyObservedUse(model.packages, model.reachability, { files: observation.files, packages: observation.packages }, observation.at);

  // Packages whose verdict the observation changed are dated by it; the rest keep their own date.
  const before = new Map(current.packages.map((pkg) => [pkg.id, pkg.reachability]));
  const decidedAt = new Map<string, string>();
  let packagesChanged = 0;
  for (const verdict of reachability) {
    const previous = before.get(verdict.packageId);
    const changed = !previous || previous.status !== verdict.status || previous.method !== verdict.method;
    if (changed) packagesChanged += 1;
    decidedAt.set(verdict.packageId, changed ? observation.at : (previous?.analyzedAt ?? current.analyzedAt));
  }

  const { stored, files: storedFiles } = toStoredAnalysis({ ...model, reachability }, nextVersion(head.version), decidedAt);
  await context.store.analysis.put(stored, storedFiles, head.version);
  return { stored, packagesChanged };
}

/** Applies every recorded observation to a fresh analysis, dating the packages they changed. */
async function applyObservations(analysis: ImageAnalysis, observations: RuntimeObservation[]): Promise<{ withEvidence: ImageAnalysis; decidedAt: Map<string, string> }> {
  const decidedAt = new Map<string, string>();
  if (observations.length === 0) return { withEvidence: analysis, decidedAt };

  let reachability = analysis.reachability;
  for (const observation of observations) {
    const before = new Map(reachability.map((entry) => [entry.packageId, entry.status]));
    reachability = applyObservedUse(analysis.packages, reachability, { files: observation.files, packages: observation.packages }, observation.at);
    for (const entry of reachability) if (before.get(entry.packageId) !== entry.status) decidedAt.set(entry.packageId, observation.at);
  }
  return { withEvidence: { ...analysis, reachability }, decidedAt };
}

/**
 * Applies a stored analysis to the current findings of every image record it describes, because
 * a record under the manifest digest and one under the image ID alone can both exist. Writes
 * the findings that changed with an audit record each, and updates the origin counts.
 */
export async function reapplyAnalysis(context: AnalysisContext, analysis: StoredAnalysis): Promise<number> {
  const images = new Map<string, Image>();
  for (const digest of [analysis.imageDigest, analysis.imageId]) {
    const image = digest ? await context.store.getImage(digest) : undefined;
    if (image) images.set(image.key, image);
  }

  let updated = 0;
  for (const image of images.values()) updated += await reapplyToImage(context, analysis, image);
  return updated;
}

async function reapplyToImage(context: AnalysisContext, analysis: StoredAnalysis, image: Image): Promise<number> {
  if (!image.scan) return 0;

  const findings = await context.store.allFindings(image.scan.id);
  const applied = applyAnalysisToFindings(analysis, image, findings, context.logger);
  const placed = withOrigins(image, applied.findings);
  const changed = placed.filter((finding, index) => finding !== findings[index]);
  if (changed.length === 0) return 0;

  // Findings first, then the counts, then the audit: a retry finds the same changes and writes the same values.
  await context.store.putFindings(changed);
  const before = new Map(findings.map((finding) => [finding.id, finding]));
  const counts = countFindings(placed);
  if (JSON.stringify(counts) !== JSON.stringify(image.scan.counts)) {
    await context.store.putImage({ ...image, scan: { ...image.scan, counts }, updatedAt: context.clock.now().toISOString() }, { expectedScanId: image.scan.id });
  }

  const at = context.clock.now().toISOString();
  await context.store.triage.appendAudit(
    changed.map((finding) => ({
      at,
      actor: context.actor,
      action: 'REACHABILITY_CHANGED' as const,
      reason: auditReason(before.get(finding.id)!, finding, analysis),
      imageKey: image.key,
      findingId: finding.id,
      before: before.get(finding.id)?.reachability ?? null,
      after: finding.reachability ?? null,
    })),
  );

  context.logger.info('applied image analysis to findings', { imageKey: image.key, scanId: image.scan.id, findings: findings.length, updated: changed.length, unmatched: applied.unmatched });
  return changed.length;
}

function auditReason(before: Finding, after: Finding, analysis: StoredAnalysis): string {
  const from = before.reachability?.status ?? 'UNKNOWN';
  const to = after.reachability?.status ?? 'UNKNOWN';
  const layer = before.layerIndex !== after.layerIndex ? `; layer ${after.layerIndex} from content` : '';
  return `${from} to ${to} by ${after.reachability?.method ?? 'none'} (analysis version ${analysis.version})${layer}`;
}
