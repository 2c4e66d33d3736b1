import { randomUUID } from 'node:crypto';

import { InvalidInputError, NotFoundError } from '../errors.ts';
import type { Finding, SuppressionReason } from '../finding.ts';
import type { Image } from '../image/model.ts';
import type { IngestContext } from '../ingest/context.ts';
import type { Occurrence } from '../store/store.ts';
import { severityRank } from '../severity.ts';
import type { VexJustification } from '../vex/model.ts';
import type { AuditRecord } from './audit.ts';
import { applySuppressions, ruleMatches, type SuppressionFilter, type SuppressionRule, type SuppressionScope } from './suppression.ts';

const MAX_EXPIRY_DAYS = 3650;
const SAMPLE_SIZE = 20;
const PAGE = 500;

export interface TriageContext extends IngestContext {
  /** The actor of the change, for the audit trail. */
  actor: string;
}

export interface SuppressionRequest {
  filter: SuppressionFilter;
  scope: SuppressionScope;
  reason: SuppressionReason;
  justification?: VexJustification;
  comment: string;
  /** ISO 8601 expiry; the policy's default lifetime when omitted. */
  expiresAt?: string;
  /** Requests a rule without expiry, which the policy must allow. */
  noExpiry?: boolean;
}

export interface SuppressionPreview {
  count: number;
  sample: Occurrence[];
}

function hasCriterion(filter: SuppressionFilter): boolean {
  return Object.values(filter).some((value) => Array.isArray(value) && value.length > 0);
}

/** Checks a request before anything is read or written; the messages name the field and the rule. */
function validateRequest(request: SuppressionRequest): void {
  const { scope, filter } = request;
  if (scope.kind === 'IMAGE' && !scope.imageDigest) throw new InvalidInputError('Missing imageDigest: an IMAGE scope names the image by digest', { path: 'imageDigest' });
  if (scope.kind === 'REPOSITORY' && !scope.repository) throw new InvalidInputError('Missing repository: a REPOSITORY scope names the repository', { path: 'repository' });
  if (scope.kind !== 'REPOSITORY' && scope.repository) throw new InvalidInputError(`Unexpected repository with scope ${scope.kind}: a repository is given only with scope REPOSITORY`, { path: 'repository', value: scope.repository });
  if (scope.kind !== 'IMAGE' && scope.imageDigest) throw new InvalidInputError(`Unexpected imageDigest with scope ${scope.kind}: an image digest is given only with scope IMAGE`, { path: 'imageDigest', value: scope.imageDigest });
  if (scope.kind === 'TENANT' && !filter.vulnerabilityIds?.length && !filter.packageNames?.length) {
    throw new InvalidInputError('A TENANT scope needs filter.vulnerabilityIds or filter.packageNames, so that the rule names what it suppresses; narrow it or scope it to a repository', {
      path: 'filter',
    });
  }
  if (scope.kind !== 'IMAGE' && !hasCriterion(filter)) {
    throw new InvalidInputError(`An empty filter would suppress every finding of the ${scope.kind.toLowerCase()}; give at least one criterion`, { path: 'filter' });
  }
  if (request.comment.trim() === '') throw new InvalidInputError('Missing comment: say why these findings are suppressed, for the audit trail', { path: 'comment' });
  if (request.reason === 'NOT_AFFECTED' && !request.justification) {
    throw new InvalidInputError('Missing justification: a NOT_AFFECTED suppression names why, as in VEX (for example vulnerable_code_not_in_execute_path)', { path: 'justification' });
  }
}

/**
 * Reads the current findings a rule could cover, from the narrowest index the rule allows:
 * vulnerability ids, package names, the image, or every image of the repository.
 */
export async function candidates(context: TriageContext, filter: SuppressionFilter, scope: SuppressionScope, options: { requireImage?: boolean } = {}): Promise<Occurrence[]> {
  const found = new Map<string, Occurrence>();
  const add = (occurrence: Occurrence) => found.set(`${occurrence.image.key}#${occurrence.finding.id}`, occurrence);

  const readPages = async (read: (after?: string) => Promise<{ items: Array<{ node: Occurrence }>; hasNextPage: boolean; endCursor?: string }>) => {
    let after: string | undefined;
    do {
      const page = await read(after);
      page.items.forEach(({ node }) => add(node));
      after = page.hasNextPage ? page.endCursor : undefined;
    } while (after);
  };

  if (filter.vulnerabilityIds?.length) {
    for (const id of filter.vulnerabilityIds) await readPages((after) => context.store.listOccurrences(id, { first: PAGE, after }));
  } else if (filter.packageNames?.length) {
    for (const name of filter.packageNames) await readPages((after) => context.store.listFindingsByPackage(name, { first: PAGE, after }));
  } else {
    const images: Image[] = [];
    if (scope.kind === 'IMAGE') {
      const image = await context.store.getImage(scope.imageDigest!);
      // A new rule must name a stored image; an existing rule whose image is gone simply covers nothing.
      if (!image && options.requireImage) throw new NotFoundError('Image', scope.imageDigest!, 'ingest a report for it first');
      if (image) images.push(image);
    } else {
      let after: string | undefined;
      do {
        const page = await context.store.listImages(scope.repository!, { first: PAGE, after });
        images.push(...page.items.map((item) => item.node));
        after = page.hasNextPage ? page.endCursor : undefined;
      } while (after);
    }
    for (const image of images) {
      if (!image.scan) continue;
      for (const finding of await context.store.allFindings(image.scan.id)) add({ image, finding });
    }
  }

  return [...found.values()];
}

function draftRule(context: TriageContext, request: SuppressionRequest, policy: { version: number; defaultSuppressionDays: number; allowNoExpiry: boolean }): SuppressionRule {
  const now = context.clock.now();
  let expiresAt: string | undefined;

  if (request.noExpiry) {
    if (!policy.allowNoExpiry) throw new InvalidInputError('The risk policy does not allow suppressions without expiry; give expiresAt or use the default lifetime', { path: 'noExpiry' });
  } else if (request.expiresAt) {
    const expiry = Date.parse(request.expiresAt);
    if (Number.isNaN(expiry) || expiry <= now.getTime()) throw new InvalidInputError(`Invalid expiresAt ${JSON.stringify(request.expiresAt)}: expected a future date and time`, { path: 'expiresAt', value: request.expiresAt });
    if (expiry - now.getTime() > MAX_EXPIRY_DAYS * 86_400_000) throw new InvalidInputError(`Invalid expiresAt ${request.expiresAt}: at most ${MAX_EXPIRY_DAYS} days ahead`, { path: 'expiresAt', value: request.expiresAt });
    expiresAt = new Date(expiry).toISOString();
  } else {
    expiresAt = new Date(now.getTime() + policy.defaultSuppressionDays * 86_400_000).toISOString();
  }

  return {
    id: randomUUID(),
    filter: request.filter,
    scope: request.scope,
    reason: request.reason,
    justification: request.justification,
    comment: request.comment.trim(),
    createdBy: context.actor,
    createdAt: now.toISOString(),
    expiresAt,
    state: 'ACTIVE',
    appliedCount: 0,
    policyVersion: policy.version,
  };
}

/** Counts the current findings a request would suppress, with a sample, without writing anything. */
export async function previewSuppression(context: TriageContext, request: SuppressionRequest): Promise<SuppressionPreview> {
  validateRequest(request);
  const policy = await context.store.triage.getPolicy();
  const rule = draftRule(context, request, policy);
  const now = context.clock.now();

  const matched = (await candidates(context, request.filter, request.scope, { requireImage: true })).filter(({ image, finding }) => !finding.suppression && ruleMatches(rule, image, finding, now));
  return { count: matched.length, sample: matched.slice(0, SAMPLE_SIZE) };
}

/**
 * Writes new suppression states for findings and one audit record per changed finding.
 * Findings are written first: a retry after a failure finds them done and writes nothing twice.
 */
async function writeChanges(context: TriageContext, changes: Array<{ before: Finding; after: Finding; image: Image }>, action: AuditRecord['action'], reason: string, ruleId: string): Promise<void> {
  await context.store.putFindings(changes.map((change) => change.after));
  await context.store.triage.appendAudit(
    changes.map(({ before, after, image }) => ({
      at: context.clock.now().toISOString(),
      actor: context.actor,
      action,
      reason,
      imageKey: image.key,
      findingId: before.id,
      ruleId,
      before: before.suppression ?? null,
      after: after.suppression ?? null,
    })),
  );
}

/**
 * Creates a suppression rule and applies it to the current findings it covers. The rule is
 * stored first, so findings ingested meanwhile are covered too.
 */
export async function createSuppression(context: TriageContext, request: SuppressionRequest): Promise<{ rule: SuppressionRule; suppressedCount: number }> {
  validateRequest(request);
  const policy = await context.store.triage.getPolicy();
  const rule = draftRule(context, request, policy);
  const now = context.clock.now();

  // Read first: a request for an unknown image fails before anything is stored.
  const covered = await candidates(context, rule.filter, rule.scope, { requireImage: true });

  await context.store.triage.registerTenant();
  await context.store.triage.putRule(rule, null);
  await context.store.triage.appendAudit([{ at: rule.createdAt, actor: context.actor, action: 'SUPPRESSION_CREATED', reason: rule.comment, ruleId: rule.id, after: rule }]);

  const changes = covered
    .filter(({ image, finding }) => !finding.suppression && ruleMatches(rule, image, finding, now))
    .map(({ image, finding }) => ({ image, before: finding, after: { ...finding, suppression: { ruleId: rule.id, reason: rule.reason, expiresAt: rule.expiresAt, appliedAt: now.toISOString(), severityAtApply: finding.severity } } }));
  await writeChanges(context, changes, 'SUPPRESSION_APPLIED', rule.comment, rule.id);

  const ceiling = changes.map((change) => change.before.severity).sort((a, b) => severityRank(a) - severityRank(b))[0];
  const applied = { ...rule, appliedCount: changes.length, severityCeiling: ceiling };
  await context.store.triage.putRule(applied, 'ACTIVE');
  context.logger.info('created suppression', { tenant: context.store.tenant, ruleId: rule.id, suppressed: changes.length, actor: context.actor });
  return { rule: applied, suppressedCount: changes.length };
}

/**
 * Ends a rule (revoked by a person, or expired at audit) and reopens its findings, unless
 * another active rule covers them.
 */
export async function endSuppression(context: TriageContext, id: string, state: 'REVOKED' | 'EXPIRED', reason: string): Promise<{ rule: SuppressionRule; reopenedCount: number }> {
  const rule = await context.store.triage.getRule(id);
  if (!rule) throw new NotFoundError('Suppression', id, 'list suppressions to find its id');
  if (rule.state !== 'ACTIVE') return { rule, reopenedCount: 0 };

  const now = context.clock.now();
  const ended: SuppressionRule = { ...rule, state, endedAt: now.toISOString(), endedBy: context.actor, endReason: reason };
  await context.store.triage.putRule(ended, 'ACTIVE');
  await context.store.triage.appendAudit([{ at: ended.endedAt!, actor: context.actor, action: state === 'REVOKED' ? 'SUPPRESSION_REVOKED' : 'SUPPRESSION_EXPIRED', reason, ruleId: id, before: rule, after: ended }]);

  const others = (await context.store.triage.activeRules()).filter((other) => other.id !== id);
  const covered = (await candidates(context, rule.filter, rule.scope)).filter(({ finding }) => finding.suppression?.ruleId === id);
  const changes = covered.map(({ image, finding }) => ({ image, before: finding, after: applySuppressions(others, image, [finding], now)[0]! }));
  await writeChanges(context, changes, 'FINDING_REOPENED', reason, id);

  context.logger.info('ended suppression', { tenant: context.store.tenant, ruleId: id, state, reopened: changes.length, actor: context.actor });
  return { rule: ended, reopenedCount: changes.filter((change) => !change.after.suppression).length };
}
