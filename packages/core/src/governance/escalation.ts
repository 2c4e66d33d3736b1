import type { AlertKind } from '../alerts/contract.ts';
import type { Finding } from '../finding.ts';
import type { Image } from '../image/model.ts';
import { severityRank } from '../severity.ts';
import { isActionable, isSuppressed, type ExploitFacts } from '../triage/risk.ts';
import { findingMatches, needsExploitFacts } from './conditions.ts';
import type { GovernanceDependencies } from './dependencies.ts';
import { forEachLimited } from './limited.ts';
import { backfillSlaRecords } from './sla-backfill.ts';
import { addDays, packageIdentity, violationIdOf, type SlaRecord } from './sla.ts';
import { alertKey, type Violation, type ViolationCloseReason } from './violation.ts';
import { alertAction, slaAction, type Workflow } from './workflow.ts';

/** Records and violations handled at once; each one's steps stay in order. */
const PASS_CONCURRENCY = 8;
/** Images of a repository read to find its latest scanned one; a push whose scan is pending is skipped. */
const LATEST_IMAGES_READ = 10;

/** Counts of one daily pass over one tenant. */
export interface SlaPassReport {
  tenant: string;
  ranAt: string;
  /** SLA records written for findings stored before an SLA workflow covered them. */
  backfilledRecords: number;
  dueRecords: number;
  opened: number;
  escalated: number;
  closed: number;
  resolvedRecords: number;
  alertsSent: number;
}

/** The vulnerability's current finding in the repository's latest scanned image, if it is still there. */
export interface CurrentOccurrence {
  finding: Finding;
  image: Image;
}

/**
 * Looks findings up in each repository's latest scanned image. Images are cached for the pass,
 * so a repository with many records costs one image listing.
 */
export class OccurrenceFinder {
  private readonly latest = new Map<string, Promise<Image | undefined>>();

  constructor(private readonly dependencies: Pick<GovernanceDependencies, 'store'>) {}

  latestImage(repository: string): Promise<Image | undefined> {
    let image = this.latest.get(repository);
    if (!image) {
      image = this.dependencies.store.listImages(repository, { first: LATEST_IMAGES_READ }).then((page) => page.items.map((item) => item.node).find((candidate) => candidate.scan !== undefined));
      this.latest.set(repository, image);
    }
    return image;
  }

  /** Finds the current finding of highest severity for the vulnerability in a package with this identity. */
  async find(repository: string, vulnerabilityId: string, identity: string): Promise<CurrentOccurrence | undefined> {
    const image = await this.latestImage(repository);
    if (!image) return undefined;

    const matches: Finding[] = [];
    let after: string | undefined;
    do {
      const page = await this.dependencies.store.listFindings(image, { vulnerabilityId }, { first: 500, after });
      matches.push(...page.items.map((item) => item.node).filter((finding) => packageIdentity(finding) === identity));
      after = page.hasNextPage ? page.endCursor : undefined;
    } while (after);

    const finding = matches.sort((a, b) => severityRank(a.severity) - severityRank(b.severity))[0];
    return finding ? { finding, image } : undefined;
  }
}

/** Returns why an occurrence no longer warrants a violation, or undefined while it does. */
function closeReasonOf(occurrence: CurrentOccurrence | undefined, workflow: Workflow | undefined, facts: ExploitFacts, now: Date): ViolationCloseReason | undefined {
  if (!occurrence) return 'FIXED';
  if (!workflow || !workflow.enabled || !slaAction(workflow)) return 'RULE_REMOVED';
  if (isSuppressed(occurrence.finding, now)) return 'SUPPRESSED';
  if (!isActionable(occurrence.finding, now)) return 'NOT_ACTIONABLE';
  // A workflow edited so that it no longer covers the finding no longer sets it a deadline.
  if (!findingMatches(workflow.conditions, { finding: occurrence.finding, repository: occurrence.image.repository, facts, now })) return 'RULE_REMOVED';
  return undefined;
}

const STEP_KINDS: Record<'OPENED' | 'ESCALATED' | 'CLOSED', AlertKind> = { OPENED: 'VIOLATION_OPENED', ESCALATED: 'VIOLATION_ESCALATED', CLOSED: 'VIOLATION_CLOSED' };

function describe(violation: Violation): string {
  return `${violation.vulnerabilityId} (${violation.severity}) in ${violation.packageName} ${violation.finding.packageVersion} in ${violation.repository}`;
}

function alertText(violation: Violation, step: 'OPENED' | 'ESCALATED' | 'CLOSED', workflow: Workflow | undefined): { subject: string; text: string } {
  const rule = workflow ? `"${workflow.name}"` : `workflow ${violation.workflowId}`;
  const due = violation.dueDate.slice(0, 10);
  if (step === 'OPENED') return { subject: `SLA violated: ${describe(violation)}`, text: `${describe(violation)} was due on ${due} under ${rule} and is still actionable. First seen ${violation.firstSeenAt.slice(0, 10)}.` };
  if (step === 'ESCALATED') return { subject: `SLA violation escalated: ${describe(violation)}`, text: `${describe(violation)} was due on ${due} under ${rule} and has stayed open since ${violation.openedAt.slice(0, 10)}.` };
  const reason = (violation.closeReason ?? 'FIXED').toLowerCase().replaceAll('_', ' ');
  return { subject: `SLA violation closed: ${describe(violation)}`, text: `${describe(violation)}, due on ${due} under ${rule}, is closed: ${reason}.` };
}

/**
 * Runs the daily SLA pass for one tenant. It opens a violation for each tenant-tracked deadline that
 * has passed while the finding is still actionable, escalates violations open for the ALERT
 * action's grace days, and closes violations whose finding is fixed, suppressed or no longer
 * actionable. Every step is recorded before the next, and an alert key is stored on the
 * violation once dispatched, so running the pass again the same day sends nothing new.
 */
export async function runSlaEscalation(dependencies: GovernanceDependencies): Promise<SlaPassReport> {
  const { store, logger } = dependencies;
  const now = dependencies.clock.now();
  const nowIso = now.toISOString();
  const report: SlaPassReport = { tenant: store.tenant, ranAt: nowIso, backfilledRecords: 0, dueRecords: 0, opened: 0, escalated: 0, closed: 0, resolvedRecords: 0, alertsSent: 0 };

  // Before the due records are read, so a backfilled deadline that has passed opens its violation today.
  report.backfilledRecords = await backfillSlaRecords(dependencies);
  const workflows = new Map((await store.governance.allWorkflows()).map((workflow) => [workflow.id, workflow]));
  const finder = new OccurrenceFinder(dependencies);
  const open = new Map((await store.governance.openViolations()).map((violation) => [violation.id, violation]));
  const due = await store.governance.dueSlaRecords(nowIso);
  report.dueRecords = due.length;

  const factsFor = async (vulnerabilityId: string, workflow: Workflow | undefined): Promise<ExploitFacts> => {
    if (!workflow || !needsExploitFacts(workflow.conditions) || !dependencies.exploitFacts) return {};
    const facts = await dependencies.exploitFacts([vulnerabilityId]);
    return facts.get(vulnerabilityId.toUpperCase()) ?? facts.get(vulnerabilityId) ?? {};
  };

  await forEachLimited(due, PASS_CONCURRENCY, async (record) => {
    const id = violationIdOf(record);
    if (open.has(id)) return;

    const workflow = workflows.get(record.workflowId);
    const occurrence = await finder.find(record.repository, record.vulnerabilityId, record.packageIdentity);
    if (!occurrence) {
      await resolveRecord(dependencies, record, nowIso);
      report.resolvedRecords++;
      return;
    }
    // A suppressed or not actionable finding opens nothing today; its record stays due and is checked again tomorrow.
    if (closeReasonOf(occurrence, workflow, await factsFor(record.vulnerabilityId, workflow), now)) return;

    // The alert goes out before the violation is stored with its key, which saves a write per
    // violation. A failure in between repeats the dispatch, which delivery deduplicates by key.
    const alert = workflow ? alertAction(workflow) : undefined;
    const violation = await sendStep(dependencies, newViolation(id, record, occurrence, nowIso), 'OPENED', alert?.channelIds ?? [], workflow, report, false);
    if (await store.governance.createViolation(violation)) {
      report.opened++;
      logger.info('opened SLA violation', { tenant: store.tenant, violationId: id, repository: record.repository, vulnerabilityId: record.vulnerabilityId, dueDate: record.dueDate });
      open.set(id, violation);
    } else {
      const stored = await store.governance.getViolation(id);
      if (stored && stored.state !== 'CLOSED') open.set(id, stored);
    }
  });

  await forEachLimited([...open.values()], PASS_CONCURRENCY, async (violation) => {
    const workflow = workflows.get(violation.workflowId);
    const occurrence = await finder.find(violation.repository, violation.vulnerabilityId, violation.packageIdentity);
    const reason = closeReasonOf(occurrence, workflow, await factsFor(violation.vulnerabilityId, workflow), now);

    if (reason) {
      await closeViolation(dependencies, violation, reason, workflow, report);
      return;
    }

    const alert = workflow ? alertAction(workflow) : undefined;
    let current = await sendStep(dependencies, violation, 'OPENED', alert?.channelIds ?? [], workflow, report);

    const escalatesAt = alert?.graceDays !== undefined && alert.escalationChannelIds.length > 0 ? addDays(current.openedAt, alert.graceDays) : undefined;
    if (current.state === 'OPEN' && escalatesAt !== undefined && escalatesAt <= nowIso) {
      const escalated: Violation = { ...current, state: 'ESCALATED', escalatedAt: nowIso };
      await store.governance.putViolation(escalated, 'OPEN');
      report.escalated++;
      logger.info('escalated SLA violation', { tenant: store.tenant, violationId: current.id, openedAt: current.openedAt, graceDays: alert!.graceDays });
      current = escalated;
    }
    if (current.state === 'ESCALATED') await sendStep(dependencies, current, 'ESCALATED', alert?.escalationChannelIds ?? [], workflow, report);
  });

  logger.info('ran SLA pass', { ...report });
  return report;
}

function newViolation(id: string, record: SlaRecord, occurrence: CurrentOccurrence, nowIso: string): Violation {
  return {
    id,
    slaKey: record.key,
    repository: record.repository,
    vulnerabilityId: record.vulnerabilityId,
    packageIdentity: record.packageIdentity,
    packageName: occurrence.finding.package.name,
    severity: occurrence.finding.severity,
    workflowId: record.workflowId,
    workflowVersion: record.workflowVersion,
    finding: { imageKey: occurrence.finding.imageKey, scanId: occurrence.finding.scanId, findingId: occurrence.finding.id, origin: occurrence.finding.origin, packageVersion: occurrence.finding.package.version },
    firstSeenAt: record.firstSeenAt,
    dueDate: record.dueDate,
    state: 'OPEN',
    openedAt: nowIso,
    alertKeys: [],
  };
}

/** Marks a record resolved: the finding is gone, so a return starts a new clock. */
async function resolveRecord(dependencies: GovernanceDependencies, record: SlaRecord, nowIso: string): Promise<void> {
  await dependencies.store.governance.replaceSlaRecord({ ...record, state: 'RESOLVED', resolvedAt: nowIso }, record.firstSeenAt);
  dependencies.logger.info('resolved SLA record', { tenant: dependencies.store.tenant, slaKey: record.key, repository: record.repository, vulnerabilityId: record.vulnerabilityId });
}

/**
 * Dispatches one step's alert unless the violation records it as sent, then records it (unless
 * `store` is false and the caller writes the returned violation). A crash between the two
 * repeats the dispatch on the next run, which delivery deduplicates by key.
 */
async function sendStep(
  dependencies: GovernanceDependencies,
  violation: Violation,
  step: 'OPENED' | 'ESCALATED' | 'CLOSED',
  channelIds: string[],
  workflow: Workflow | undefined,
  report: SlaPassReport,
  store = true,
): Promise<Violation> {
  const key = alertKey(violation.id, step);
  if (channelIds.length === 0 || violation.alertKeys.includes(key)) return violation;
  if (!dependencies.alerts) {
    dependencies.logger.warn('SLA alert not sent: no alert dispatcher configured', { tenant: dependencies.store.tenant, violationId: violation.id, key });
    return violation;
  }

  const { subject, text } = alertText(violation, step, workflow);
  await dependencies.alerts.dispatch({
    tenant: dependencies.store.tenant,
    key,
    kind: STEP_KINDS[step],
    channelIds,
    subject,
    text,
    violationId: violation.id,
    details: JSON.parse(
      JSON.stringify({
        violation: { id: violation.id, state: violation.state, openedAt: violation.openedAt, escalatedAt: violation.escalatedAt, closedAt: violation.closedAt, closeReason: violation.closeReason },
        finding: { vulnerabilityId: violation.vulnerabilityId, severity: violation.severity, package: violation.packageName, version: violation.finding.packageVersion, imageKey: violation.finding.imageKey, findingId: violation.finding.findingId },
        repository: violation.repository,
        rule: { id: violation.workflowId, name: workflow?.name, version: violation.workflowVersion },
        dueDate: violation.dueDate,
        firstSeenAt: violation.firstSeenAt,
      }),
    ),
  });
  report.alertsSent++;

  const recorded: Violation = { ...violation, alertKeys: [...violation.alertKeys, key] };
  if (store) await dependencies.store.governance.putViolation(recorded, violation.state);
  return recorded;
}

/**
 * Lists the channels that were sent an alert of this violation: those its stored deliveries name,
 * and those the workflow names for each step the violation records as sent. The second set covers
 * a dispatcher that keeps no deliveries.
 */
async function alertedChannels(dependencies: GovernanceDependencies, violation: Violation, workflow: Workflow | undefined): Promise<string[]> {
  const alert = workflow ? alertAction(workflow) : undefined;
  const channels = new Set<string>();
  if (violation.alertKeys.includes(alertKey(violation.id, 'OPENED'))) alert?.channelIds.forEach((id) => channels.add(id));
  if (violation.alertKeys.includes(alertKey(violation.id, 'ESCALATED'))) alert?.escalationChannelIds.forEach((id) => channels.add(id));

  let after: string | undefined;
  do {
    const page = await dependencies.store.alerts.listDeliveries(violation.id, { first: 100, after });
    page.items.forEach((item) => channels.add(item.node.channelId));
    after = page.hasNextPage ? page.endCursor : undefined;
  } while (after);

  return [...channels];
}

/**
 * Chooses the channels that get the close alert. Every Jira channel with a close transition that
 * was sent an alert of the violation gets it, so the issue it opened is transitioned. The
 * workflow's main channels get it when the workflow sets notifyOnClose.
 */
async function closeChannels(dependencies: GovernanceDependencies, violation: Violation, workflow: Workflow | undefined): Promise<string[]> {
  const alert = workflow ? alertAction(workflow) : undefined;
  const chosen = new Set(alert?.notifyOnClose ? alert.channelIds : []);

  for (const id of await alertedChannels(dependencies, violation, workflow)) {
    if (chosen.has(id)) continue;
    const channel = await dependencies.store.alerts.getChannel(id);
    if (channel?.kind === 'JIRA' && channel.jira.closeTransition) chosen.add(id);
  }

  return [...chosen];
}

/**
 * Closes a violation. The close alert is dispatched before the violation is written as closed,
 * because a closed violation is not visited again. A violation closed while its finding stays
 * counts on the SLA record, so a later return opens a new one.
 */
async function closeViolation(dependencies: GovernanceDependencies, violation: Violation, reason: ViolationCloseReason, workflow: Workflow | undefined, report: SlaPassReport): Promise<void> {
  const nowIso = dependencies.clock.now().toISOString();
  let closed: Violation = { ...violation, state: 'CLOSED', closedAt: nowIso, closeReason: reason };
  closed = await sendStep(dependencies, closed, 'CLOSED', await closeChannels(dependencies, violation, workflow), workflow, report, false);

  await dependencies.store.governance.putViolation(closed, violation.state);
  report.closed++;
  dependencies.logger.info('closed SLA violation', { tenant: dependencies.store.tenant, violationId: violation.id, reason });

  const record = await dependencies.store.governance.getSlaRecord(violation.slaKey);
  if (record?.state !== 'ACTIVE' || record.firstSeenAt !== violation.firstSeenAt) return;
  if (reason === 'FIXED') {
    await resolveRecord(dependencies, record, nowIso);
    report.resolvedRecords++;
  } else if (violationIdOf(record) === violation.id) {
    await dependencies.store.governance.replaceSlaRecord({ ...record, closedViolations: (record.closedViolations ?? 0) + 1 }, record.firstSeenAt);
  }
}
