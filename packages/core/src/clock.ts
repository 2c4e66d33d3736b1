/** Time source, injected so that deadlines, expiry and audits can be tested with a fixed time. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

export function fixedClock(iso: string): Clock & { advance(ms: number): void; set(iso: string): void } {
  let current = new Date(iso).getTime();
  return {
    now: () => new Date(current),
    advance: (ms) => {
      current += ms;
    },
    set: (value) => {
      current = new Date(value).getTime();
    },
  };
}
