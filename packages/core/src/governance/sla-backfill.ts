import type { Finding } from '../finding.ts';
import type { Image } from '../image/model.ts';
import type { GovernanceDependencies } from './dependencies.ts';
import { forEachLimited } from './limited.ts';
import { recordSlaFindings } from './sla-recording.ts';
import { slaAction } from './workflow.ts';
import { enabledWorkflows } from './workflows.ts';

/** Repositories one backfill visits; the rest are visited by a later pass once these have their records. */
const MAX_REPOSITORIES = 200;
/** Findings of one image read by a backfill, most severe first. */
const MAX_FINDINGS_PER_IMAGE = 5_000;
/** Images of a repository read to find its latest scanned one. */
const LATEST_IMAGES_READ = 10;
const CONCURRENCY = 4;
const PAGE_SIZE = 500;

async function latestScannedImage(dependencies: GovernanceDependencies, repository: string): Promise<Image | undefined> {
  const page = await dependencies.store.listImages(repository, { first: LATEST_IMAGES_READ });
  return page.items.map((item) => item.node).find((image) => image.scan !== undefined);
}

async function actionableFindings(dependencies: GovernanceDependencies, image: Image, nowIso: string): Promise<Finding[]> {
  const findings: Finding[] = [];
  let after: string | undefined;
  do {
    const page = await dependencies.store.listFindings(image, { actionable: true, now: nowIso }, { first: PAGE_SIZE, after });
    findings.push(...page.items.map((item) => item.node));
    after = page.hasNextPage && findings.length < MAX_FINDINGS_PER_IMAGE ? page.endCursor : undefined;
  } while (after);
  return findings.slice(0, MAX_FINDINGS_PER_IMAGE);
}

/**
 * Gives SLA records to the current actionable findings of the tenant's repositories that have
 * none: findings stored before an SLA workflow existed or covered them, which no new scan
 * brings back to `recordSlaFindings`. Each repository's latest scanned image is read, and only
 * missing records are written, so running it again writes nothing. Returns the records written.
 *
 * A backfilled record's first-seen time is the time the scan was imported, the moment Stratum
 * first saw the finding, like a record written at ingest. So findings imported long before the
 * workflow was created can be due at once; the daily pass then opens their violations.
 */
export async function backfillSlaRecords(dependencies: GovernanceDependencies): Promise<number> {
  const { store, logger } = dependencies;
  const workflows = (await enabledWorkflows(store, 'FINDING_ACTIONABLE')).filter((workflow) => slaAction(workflow) !== undefined);
  if (workflows.length === 0) return 0;

  const nowIso = dependencies.clock.now().toISOString();
  const repositories: string[] = [];
  let after: string | undefined;
  let more = false;
  do {
    const page = await store.listRepositories({ first: Math.min(PAGE_SIZE, MAX_REPOSITORIES - repositories.length), after });
    repositories.push(...page.items.map((item) => item.node));
    more = page.hasNextPage;
    after = more && repositories.length < MAX_REPOSITORIES ? page.endCursor : undefined;
  } while (after);

  // NOTE: a tenant with more repositories than the bound gets records only for the first ones in name order.
  if (more) logger.warn('SLA backfill stopped at its repository bound', { tenant: store.tenant, repositories: repositories.length });

  let recorded = 0;
  await forEachLimited(repositories, CONCURRENCY, async (repository) => {
    const image = await latestScannedImage(dependencies, repository);
    if (!image?.scan) return;
    const findings = await actionableFindings(dependencies, image, nowIso);
    // Awaited first and added after: `recorded += await …` reads the sum before the wait, so parallel repositories would overwrite each other's counts.
    const written = await recordSlaFindings(dependencies, image, findings, { workflows, firstSeenAt: image.scan.importedAt });
    recorded += written;
  });

  logger.info('backfilled SLA deadlines', { tenant: store.tenant, repositories: repositories.length, records: recorded });
  return recorded;
}
