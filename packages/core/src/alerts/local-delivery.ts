import type { Clock } from '../clock.ts';
import type { Logger } from '../logger.ts';
import type { Store } from '../store/store.ts';
import type { AlertDispatcher } from './contract.ts';
import { createAlertDispatcher } from './dispatcher.ts';
import { StoreDeliveryQueue } from './queue.ts';
import { DeliveryRunner } from './runner.ts';
import type { AlertServices } from './services.ts';
import { DeliveryWorker } from './worker.ts';

export interface LocalAlertDelivery {
  dispatcher: AlertDispatcher;
  runner: DeliveryRunner;
  /** Stops the runner and resolves once the delivery pass in progress, if any, has finished. */
  stop(): Promise<void>;
}

/**
 * Starts alert delivery inside this process, for the local server: a dispatcher whose deliveries
 * are worked by a runner that wakes on every dispatch and polls every `intervalMs` for retries.
 */
export function startLocalAlertDelivery(options: { store: Store; clock: Clock; logger: Logger; services: AlertServices; intervalMs?: number }): LocalAlertDelivery {
  const queue = new StoreDeliveryQueue();
  const worker = new DeliveryWorker({ store: options.store, clock: options.clock, logger: options.logger, secrets: options.services.secrets, senders: options.services.senders });
  const runner = new DeliveryRunner({ store: options.store, worker, clock: options.clock, logger: options.logger });
  const stop = runner.start(queue, options.intervalMs);

  return { dispatcher: createAlertDispatcher({ store: options.store, queue, clock: options.clock, logger: options.logger }), runner, stop };
}
