/**
 * At most one request per key at a time, for actions where a second one sent before the
 * first settles would race it: two fast clicks on a task's checkbox would otherwise send two
 * PATCH …/complete, the second toggling the task back or landing in either order.
 *
 * Kept outside React state on purpose: two clicks can arrive before a re-render, and both
 * would then read the same stale state.
 */
export interface InFlight<K> {
  /**
   * Runs `start` unless a request for `key` is already on its way; a dropped call returns
   * null without calling it. The key is free again once the promise settles, either way.
   */
  run<T>(key: K, start: () => Promise<T>): Promise<T> | null;
}

export function createInFlight<K>(): InFlight<K> {
  const pending = new Set<K>();
  return {
    run<T>(key: K, start: () => Promise<T>): Promise<T> | null {
      if (pending.has(key)) return null;
      pending.add(key);
      let p: Promise<T>;
      try {
        p = start();
      } catch (e) {
        // A synchronous throw (e.g. signed out before the fetch) is a failed request too.
        p = Promise.reject(e);
      }
      return p.finally(() => pending.delete(key));
    },
  };
}
