/** Event name → listener signature. */
export type EventMap<E> = { [K in keyof E]: (...args: never[]) => void };

/**
 * A small typed event emitter that runs anywhere (no node:events in the browser build).
 * A listener that throws does not stop the others nor the SDK: its error is reported to
 * `onListenerError`, so an app bug cannot break message delivery.
 */
export class Emitter<E extends EventMap<E>> {
  /** Type-level only (never set): lets helpers infer an emitter's events, e.g. `Parameters<NonNullable<T['eventMap']>['message']>`. */
  declare readonly eventMap?: E;
  private readonly listeners = new Map<keyof E, Set<E[keyof E]>>();

  constructor(private readonly onListenerError: (error: unknown) => void = reportListenerError) {}

  on<K extends keyof E>(event: K, listener: E[K]): this {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener);
    return this;
  }

  once<K extends keyof E>(event: K, listener: E[K]): this {
    const wrapper = ((...args: Parameters<E[K]>) => {
      this.off(event, wrapper);
      listener(...args);
    }) as E[K];
    return this.on(event, wrapper);
  }

  off<K extends keyof E>(event: K, listener: E[K]): this {
    this.listeners.get(event)?.delete(listener);
    return this;
  }

  listenerCount(event: keyof E): number {
    return this.listeners.get(event)?.size ?? 0;
  }

  /** @internal Used by the SDK to emit; apps listen with `on`. */
  emit<K extends keyof E>(event: K, ...args: Parameters<E[K]>): void {
    const set = this.listeners.get(event);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        (listener as (...a: Parameters<E[K]>) => void)(...args);
      } catch (error) {
        this.onListenerError(error);
      }
    }
  }
}

function reportListenerError(error: unknown): void {
  console.error('signal client: an event listener threw', error);
}
