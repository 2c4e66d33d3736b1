import { applyAnalysisToFindings, loadAnalysisFor } from '../analysis/apply-to-findings.ts';
import type { Finding } from '../finding.ts';
import type { Image } from '../image/model.ts';
import { asBaseCandidate, attributeLayers, countFindings, diffIdChain, sameAttribution, withOrigins } from './attribute.ts';
import { applySuppressions } from '../triage/suppression.ts';
import { applyVex, loadVexIndex } from '../vex/apply.ts';
import type { IngestContext } from './context.ts';

/** Images built on a newly stored base that one ingest re-attributes; the rest wait for their next push or scan. */
const MAX_DEPENDENTS_PER_SAVE = 200;

/**
 * Writes the image's aliases, layer chain and repository entry. All are idempotent, so they are written after
 * the image item: a retry after a failure here rewrites them.
 */
async function indexImage(context: IngestContext, image: Image): Promise<void> {
  const digests = [image.digest, image.imageId, image.indexDigest].filter((digest): digest is string => Boolean(digest));
  await context.store.putAliases(image.key, digests);
  await context.store.putChain(image, diffIdChain(image), asBaseCandidate(image));
  if (image.repository) await context.store.registerRepository(image.repository);
}

/**
 * Stores an image whose structure changed (a push, a report with layer data): decides its base
 * image, moves the current findings to their new origins when the attribution changed, and
 * re-attributes the stored images that are built on it.
 */
export async function saveImageFacts(context: IngestContext, image: Image, previous: Image | undefined): Promise<Image> {
  const attributed = await attributeLayers(context, image);
  const saved = await rewriteFindingsIfMoved(context, attributed, previous);

  await context.governance?.observeImage(saved, undefined);
  await context.store.putImage(saved, { expectedScanId: previous?.scan?.id ?? null });
  await indexImage(context, saved);
  await refreshDependents(context, saved);

  return saved;
}

/** Stores a new scan of an image: findings first, then the image pointing at them, then cleanup. */
export async function saveScan(context: IngestContext, image: Image, findings: Finding[], previous: Image | undefined): Promise<Image> {
  const attributed = await attributeLayers(context, image);
  // A stored content analysis decides reachability, and the layer of findings the report placed nowhere.
  const analysis = await loadAnalysisFor(context, attributed);
  const analyzed = analysis ? applyAnalysisToFindings(analysis, attributed, findings, context.logger).findings : findings;
  const vexed = applyVex(await loadVexIndex(context), attributed, withOrigins(attributed, analyzed));
  // Suppression rules follow a repository to its new digests, so they apply to every new scan.
  const placed = applySuppressions(await context.store.triage.activeRules(), attributed, vexed, context.clock.now());
  const scan = { ...image.scan!, findingCount: placed.length, counts: countFindings(placed) };
  const saved: Image = { ...attributed, scan };

  // Order matters without transactions: the new findings exist before the image points at them,
  // and the old ones are deleted only after it no longer does.
  await context.store.putFindings(placed);
  // Before the image points at the new scan, so a failure here leaves the ingest to be retried whole.
  await context.governance?.observeImage(saved, placed);
  await context.store.putImage(saved, { expectedScanId: previous?.scan?.id ?? null });
  await indexImage(context, saved);

  const suppressed = placed.filter((finding) => finding.suppression);
  await context.store.triage.appendAudit(
    suppressed.map((finding) => ({
      at: context.clock.now().toISOString(),
      actor: 'stratum:ingest',
      action: 'SUPPRESSION_APPLIED' as const,
      reason: `rule applied to the findings of scan ${scan.id}`,
      imageKey: saved.key,
      findingId: finding.id,
      ruleId: finding.suppression!.ruleId,
      after: finding.suppression,
    })),
  );

  const previousScan = previous?.scan?.id;
  if (previousScan && previousScan !== scan.id) {
    const deleted = await context.store.deleteScan(previousScan);
    context.logger.info('replaced scan', { imageKey: saved.key, previousScanId: previousScan, scanId: scan.id, deletedFindings: deleted });
  }

  await refreshDependents(context, saved);
  return saved;
}

async function rewriteFindingsIfMoved(context: IngestContext, image: Image, previous: Image | undefined): Promise<Image> {
  if (!image.scan || (previous && sameAttribution(previous, image))) return image;

  const findings = await context.store.allFindings(image.scan.id);
  // Origins decide the scope of base-image VEX statements, so VEX is evaluated again too.
  const vexed = applyVex(await loadVexIndex(context), image, withOrigins(image, findings));
  const placed = applySuppressions(await context.store.triage.activeRules(), image, vexed, context.clock.now());
  const moved = placed.filter((finding, index) => finding !== findings[index]);
  if (moved.length === 0) return image;

  await context.store.putFindings(moved);
  context.logger.info('moved findings to new layer origins', { imageKey: image.key, scanId: image.scan.id, moved: moved.length });
  return { ...image, scan: { ...image.scan, counts: countFindings(placed) } };
}

/** Re-attributes stored images whose first layers are exactly this image's layers. */
async function refreshDependents(context: IngestContext, base: Image): Promise<void> {
  const chain = diffIdChain(base);
  if (chain.length === 0) return;

  const dependentKeys = (await context.store.imagesBuiltOn(chain.at(-1)!, chain.length)).filter((key) => key !== base.key);
  if (dependentKeys.length > MAX_DEPENDENTS_PER_SAVE) {
    context.logger.warn('too many images built on this base to re-attribute at once', { imageKey: base.key, dependents: dependentKeys.length, limit: MAX_DEPENDENTS_PER_SAVE });
  }

  const dependents = await context.store.getImagesByKey(dependentKeys.slice(0, MAX_DEPENDENTS_PER_SAVE));
  for (const dependent of dependents.values()) {
    const attributed = await attributeLayers(context, dependent);
    if (sameAttribution(dependent, attributed)) continue;

    const saved = await rewriteFindingsIfMoved(context, attributed, dependent);
    await context.store.putImage(saved, { expectedScanId: dependent.scan?.id ?? null });
    context.logger.info('re-attributed image to a newly stored base', { imageKey: dependent.key, baseImageKey: base.key, method: saved.baseImage?.method });
  }
}
