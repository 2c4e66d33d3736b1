import type { AlertDispatcher, AlertRequest } from '@stratum/core';

/**
 * An AlertDispatcher that records every request it is handed, duplicates included, so tests can
 * count exactly what a step dispatched. It is a test double of Stratum's own interface.
 */
export class RecordingDispatcher implements AlertDispatcher {
  readonly requests: AlertRequest[] = [];

  async dispatch(request: AlertRequest): Promise<void> {
    this.requests.push(structuredClone(request));
  }

  keys(): string[] {
    return this.requests.map((request) => request.key);
  }

  ofKind(kind: AlertRequest['kind']): AlertRequest[] {
    return this.requests.filter((request) => request.kind === kind);
  }
}
