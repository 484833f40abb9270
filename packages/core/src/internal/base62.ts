/**
 * Base62 (`0-9A-Za-z`) over bytes, for values that must fit an `[a-zA-Z0-9]` alphabet (WeChat's
 * `state`). The bytes are read as one big-endian number and written with a fixed number of digits
 * per byte length: the shortest length `L` with `62^L >= 256^n`. That length grows strictly with `n`,
 * so a text's length gives its byte length back, and leading zero bytes survive. Decoding is strict:
 * a text of a length no byte length maps to, a character outside the alphabet or a number too large
 * for its byte length is rejected, so every byte string has exactly one encoding.
 *
 * @internal
 */

const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

const digits: Int8Array = (() => {
  const table = new Int8Array(128).fill(-1)
  for (let i = 0; i < alphabet.length; i++) table[alphabet.charCodeAt(i)] = i
  return table
})()

/** The largest byte length the tables cover. */
const maxTableBytes = 255

/** `lengths[n]`: the number of base62 digits that encode `n` bytes. */
const lengths: ReadonlyArray<number> = (() => {
  const out: Array<number> = []
  let power = 1n
  let length = 0
  for (let n = 0; n <= maxTableBytes; n++) {
    const bound = 1n << BigInt(8 * n)
    while (power < bound) {
      power *= 62n
      length++
    }
    out.push(length)
  }
  return out
})()

const byteLengths: ReadonlyMap<number, number> = new Map(lengths.map((length, n) => [length, n]))

/** The number of base62 characters that encode `byteLength` bytes. */
export const encodedLength = (byteLength: number): number => {
  const length = lengths[byteLength]
  if (length === undefined) throw new RangeError(`base62: ${byteLength} bytes are out of range`)
  return length
}

/** The most bytes that fit in `maxChars` base62 characters. */
export const maxBytesFor = (maxChars: number): number => {
  let n = 0
  while (n < maxTableBytes && lengths[n + 1] <= maxChars) n++
  return n
}

/** Encodes bytes (at most 255) as base62, `encodedLength(bytes.length)` characters long. */
export const encode = (bytes: Uint8Array): string => {
  const length = encodedLength(bytes.length)
  let value = 0n
  for (let i = 0; i < bytes.length; i++) value = (value << 8n) | BigInt(bytes[i])
  const out = new Array<string>(length)
  for (let i = length - 1; i >= 0; i--) {
    out[i] = alphabet[Number(value % 62n)]
    value /= 62n
  }
  return out.join("")
}

/** Decodes a text made by `encode`; `undefined` for any other text. */
export const decode = (text: string): Uint8Array | undefined => {
  const n = byteLengths.get(text.length)
  if (n === undefined) return undefined
  let value = 0n
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    const digit = code < 128 ? digits[code] : -1
    if (digit < 0) return undefined
    value = value * 62n + BigInt(digit)
  }
  if (value >> BigInt(8 * n) !== 0n) return undefined
  const out = new Uint8Array(n)
  for (let i = n - 1; i >= 0; i--) {
    out[i] = Number(value & 0xffn)
    value >>= 8n
  }
  return out
}
