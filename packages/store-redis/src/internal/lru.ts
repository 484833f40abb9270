/**
 * A bounded map that forgets the least recently used entry when full: a `Map` keeps insertion order,
 * so a hit moves its entry to the end, and the first key is the one to drop.
 */
export class Lru<K, V> {
  private readonly map = new Map<K, V>()

  constructor(readonly maxEntries: number) {}

  get size(): number {
    return this.map.size
  }

  /** The entry, now the most recently used. */
  get(key: K): V | undefined {
    const value = this.map.get(key)
    if (value !== undefined) {
      this.map.delete(key)
      this.map.set(key, value)
    }
    return value
  }

  /** The entry, leaving the order as it is. */
  peek(key: K): V | undefined {
    return this.map.get(key)
  }

  set(key: K, value: V): void {
    this.map.delete(key)
    this.map.set(key, value)
    if (this.map.size > this.maxEntries) {
      const oldest = this.map.keys().next()
      if (oldest.done !== true) this.map.delete(oldest.value)
    }
  }

  delete(key: K): void {
    this.map.delete(key)
  }

  clear(): void {
    this.map.clear()
  }
}
