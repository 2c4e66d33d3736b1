import type { AlertDispatcher } from '../alerts/contract.ts';
import type { Clock } from '../clock.ts';
import type { Logger } from '../logger.ts';
import type { TenantStore } from '../store/store.ts';
import type { ExploitFacts } from '../triage/risk.ts';

/** Dependencies of the SLA recording, the new-base-image check and the daily pass. */
export interface GovernanceDependencies {
  store: TenantStore;
  clock: Clock;
  logger: Logger;
  /** Sends alerts; without it, steps that must alert are left for a run that has one. */
  alerts?: AlertDispatcher;
  /** EPSS and KEV facts by vulnerability id, for the kev and minEpss conditions; without it neither condition matches. */
  exploitFacts?: (vulnerabilityIds: readonly string[]) => Promise<Map<string, ExploitFacts>>;
}
