import type { Clock } from '../clock.ts';
import type { Finding } from '../finding.ts';
import type { Image } from '../image/model.ts';
import type { Logger } from '../logger.ts';
import type { TenantStore } from '../store/store.ts';

/** Dependencies of every ingest step: the tenant's store, the time and a logger. */
export interface IngestContext {
  store: TenantStore;
  clock: Clock;
  logger: Logger;
  /** Governance workflows (SLA records, new-base-image alerts); ingest without it is unchanged. */
  governance?: IngestGovernance;
}

/** The governance hook that ingest calls, implemented in governance/ingest-hook.ts. */
export interface IngestGovernance {
  /**
   * Runs before an image is written: with the findings of its new scan, or without findings when
   * only its structure changed. It must be idempotent, because a failed ingest is retried.
   */
  observeImage(image: Image, findings: readonly Finding[] | undefined): Promise<void>;
}
