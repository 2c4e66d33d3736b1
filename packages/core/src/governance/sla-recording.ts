import type { Finding } from '../finding.ts';
import type { Image } from '../image/model.ts';
import { severityRank } from '../severity.ts';
import { isActionable, type ExploitFacts } from '../triage/risk.ts';
import { findingMatches, needsExploitFacts } from './conditions.ts';
import type { GovernanceDependencies } from './dependencies.ts';
import { addDays, packageIdentity, slaRecordKey, slaTerms, type SlaChoice, type SlaRecord } from './sla.ts';
import { slaAction, type Workflow } from './workflow.ts';
import { enabledWorkflows } from './workflows.ts';

/** Picks the SLA workflow that gives the finding its earliest deadline, or undefined when none applies. */
export function chooseSla(workflows: readonly Workflow[], finding: Finding, repository: string, facts: ExploitFacts, now: Date): SlaChoice | undefined {
  let best: SlaChoice | undefined;

  for (const workflow of workflows) {
    const action = slaAction(workflow);
    if (!action || !findingMatches(workflow.conditions, { finding, repository, facts, now })) continue;

    const terms = slaTerms(action, finding);
    if (!terms) continue;
    // A tenant deadline wins over a vendor one, so a tenant rule is never hidden by a vendor-tracking rule.
    const better = !best || (terms.tracking === 'TENANT' && best.tracking === 'VENDOR') || (terms.tracking === best.tracking && terms.days < best.days);
    if (better) best = { workflow, ...terms };
  }

  return best;
}

/** Options of a backfill, which records deadlines for findings stored before an SLA workflow covered them. */
export interface SlaBackfill {
  /** The enabled FINDING_ACTIONABLE workflows, read once for the whole backfill. */
  workflows: Workflow[];
  /** The first-seen time of the new records. */
  firstSeenAt: string;
}

interface Candidate {
  finding: Finding;
  choice: SlaChoice;
  recordKey: string;
  identity: string;
}

/** Keeps one finding per record key: the most severe, then the one with the earliest deadline. */
function onePerKey(candidates: Candidate[]): Candidate[] {
  const byKey = new Map<string, Candidate>();
  for (const candidate of candidates) {
    const current = byKey.get(candidate.recordKey);
    const moreSevere = current && severityRank(candidate.finding.severity) < severityRank(current.finding.severity);
    const sooner = current && severityRank(candidate.finding.severity) === severityRank(current.finding.severity) && candidate.choice.days < current.choice.days;
    if (!current || moreSevere || sooner) byKey.set(candidate.recordKey, candidate);
  }
  return [...byKey.values()];
}

function buildRecord(candidate: Candidate, image: Image, firstSeenAt: string, nowIso: string, previous?: SlaRecord): SlaRecord {
  const { finding, choice } = candidate;
  return {
    key: candidate.recordKey,
    repository: image.repository!,
    vulnerabilityId: finding.vulnerabilityId,
    packageIdentity: candidate.identity,
    packageName: finding.package.name,
    severity: finding.severity,
    firstSeenAt,
    lastSeenAt: nowIso,
    dueDate: addDays(firstSeenAt, choice.days),
    tracking: choice.tracking,
    workflowId: choice.workflow.id,
    workflowVersion: choice.workflow.version,
    finding: { imageKey: finding.imageKey, scanId: finding.scanId, findingId: finding.id, origin: finding.origin, packageVersion: finding.package.version },
    ...(choice.tracking === 'VENDOR' && image.baseImage ? { baseImage: { ...(image.baseImage.name ? { name: image.baseImage.name } : {}), ...(image.baseImage.digest ? { digest: image.baseImage.digest } : {}) } } : {}),
    state: 'ACTIVE',
    ...(previous?.closedViolations ? { closedViolations: previous.closedViolations } : {}),
  };
}

/**
 * Gives each actionable finding of a new scan that matches an SLA workflow its SLA record. An
 * existing active record keeps its first-seen time, so the due date survives re-scans, new
 * digests and upgrades that are still vulnerable. The due date is recomputed from that time with
 * the current severity and rule. A record resolved earlier starts a new clock. Images without a
 * repository get no records, because the repository is part of the key.
 */
export async function recordSlaFindings(dependencies: GovernanceDependencies, image: Image, findings: readonly Finding[], backfill?: SlaBackfill): Promise<number> {
  if (!image.repository || findings.length === 0) return 0;

  const workflows = backfill?.workflows ?? (await enabledWorkflows(dependencies.store, 'FINDING_ACTIONABLE'));
  if (workflows.length === 0) return 0;

  const now = dependencies.clock.now();
  const nowIso = now.toISOString();
  const actionable = findings.filter((finding) => isActionable(finding, now));
  const facts = workflows.some((workflow) => needsExploitFacts(workflow.conditions)) && dependencies.exploitFacts
    ? await dependencies.exploitFacts([...new Set(actionable.map((finding) => finding.vulnerabilityId))])
    : new Map<string, ExploitFacts>();

  const candidates: Candidate[] = [];
  for (const finding of actionable) {
    const choice = chooseSla(workflows, finding, image.repository, facts.get(finding.vulnerabilityId.toUpperCase()) ?? facts.get(finding.vulnerabilityId) ?? {}, now);
    if (!choice) continue;
    const identity = packageIdentity(finding);
    candidates.push({ finding, choice, identity, recordKey: slaRecordKey(image.repository, finding.vulnerabilityId, identity) });
  }
  const found = onePerKey(candidates);
  if (found.length === 0) return 0;

  const existing = await dependencies.store.governance.getSlaRecords(found.map((candidate) => candidate.recordKey));
  // A backfill only adds the deadlines that are missing, so running it again writes nothing.
  const chosen = backfill ? found.filter((candidate) => !existing.has(candidate.recordKey)) : found;
  if (chosen.length === 0) return 0;
  const firstSeen = backfill?.firstSeenAt ?? nowIso;
  // An active record keeps its clock. A new one, or one back after a fix, starts a new clock now.
  const records = chosen.map((candidate) => {
    const stored = existing.get(candidate.recordKey);
    return stored?.state === 'ACTIVE' ? buildRecord(candidate, image, stored.firstSeenAt, nowIso, stored) : buildRecord(candidate, image, firstSeen, nowIso);
  });

  // NOTE: a batch write has no condition, because a conditional put costs one request per record.
  // So two concurrent first ingests of a repository may keep the later first-seen time, and a
  // record that the daily pass resolves during an ingest comes back ACTIVE with its old clock.
  await dependencies.store.governance.putSlaRecords(records);

  dependencies.logger.info('recorded SLA deadlines', { tenant: dependencies.store.tenant, imageKey: image.key, repository: image.repository, records: chosen.length, backfill: backfill !== undefined });
  return chosen.length;
}
