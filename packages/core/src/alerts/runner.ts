import type { Clock } from '../clock.ts';
import type { Logger } from '../logger.ts';
import { AlertStore } from '../store/alert-store.ts';
import type { Store } from '../store/store.ts';
import type { StoreDeliveryQueue } from './queue.ts';
import type { DeliveryOutcome, DeliveryWorker } from './worker.ts';

/** Deliveries read per tenant and pass. A tenant with more due deliveries gets the rest in the next pass. */
const BATCH = 100;

/**
 * Works the store's due deliveries in this process: the local and test stand-in for the SQS
 * queue and its Lambda consumer.
 */
export class DeliveryRunner {
  constructor(
    private readonly options: { store: Store; worker: DeliveryWorker; clock: Clock; logger: Logger },
  ) {}

  /** Attempts every delivery of the tenant that is due now, once each; returns the outcomes. */
  async runDue(tenant: string): Promise<DeliveryOutcome[]> {
    const alerts = this.options.store.forTenant(tenant).alerts;
    const due = await alerts.listDueDeliveries(this.options.clock.now().toISOString(), BATCH);
    const outcomes: DeliveryOutcome[] = [];
    for (const delivery of due) {
      outcomes.push(await this.options.worker.deliver({ tenant, alertKey: delivery.alertKey, channelId: delivery.channelId }));
    }
    return outcomes;
  }

  /**
   * Polls every tenant with alerts each `intervalMs`, and at once when the queue is woken. Errors
   * are logged and the next pass tries again. Returns a function that stops the runner and
   * resolves once the pass in progress, if any, has finished.
   */
  start(queue: StoreDeliveryQueue, intervalMs = 15_000): () => Promise<void> {
    // Requests that arrive during a pass are collected and served by one more pass right after it.
    let requested: Set<string> | 'ALL' | undefined;
    let running = false;
    let stopped = false;
    let current: Promise<void> | undefined;

    const pass = async () => {
      running = true;
      while (requested !== undefined) {
        const batch = requested;
        requested = undefined;
        try {
          const tenants = batch === 'ALL' ? await AlertStore.tenantsWithAlerts(this.options.store.db, this.options.store.tableName) : [...batch];
          for (const tenant of tenants) await this.runDue(tenant);
        } catch (error) {
          this.options.logger.error('alert delivery pass failed', { error: (error as Error).message });
        }
      }
      running = false;
    };

    const request = (tenants?: string[]) => {
      if (!tenants) requested = 'ALL';
      else if (requested !== 'ALL') requested = new Set([...(requested ?? []), ...tenants]);
      if (!running && !stopped) current = pass();
    };

    const timer = setInterval(() => request(), intervalMs);
    timer.unref();
    const stopListening = queue.onEnqueue((tenants) => request(tenants));
    request();
    return async () => {
      stopped = true;
      clearInterval(timer);
      stopListening();
      // A pass in progress finishes its current batch. Requests not yet taken are dropped, and their
      // deliveries stay due in the store for the next start.
      requested = undefined;
      await current;
    };
  }
}
