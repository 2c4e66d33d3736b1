import type { Clock } from '../clock.ts';
import type { Logger } from '../logger.ts';
import type { TenantStore } from '../store/store.ts';

/** Dependencies of every ingest step: the tenant's store, the time and a logger. */
export interface IngestContext {
  store: TenantStore;
  clock: Clock;
  logger: Logger;
}
