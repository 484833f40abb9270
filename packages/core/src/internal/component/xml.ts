/**
 * A strict, bounded reader of the one XML shape WeChat pushes: a `<xml>` root holding flat text
 * fields, each `<Name><![CDATA[text]]></Name>` or `<Name>text</Name>`. Anything else is refused,
 * not tolerated: declarations, DOCTYPEs and entities other than XML's five (so no entity
 * expansion), comments, processing instructions, attributes, nesting, repeated fields, more than 64
 * fields, text after the root, or more than `maxLength` characters. One pass, no regular expression
 * over the input, no recursion: its cost is linear in the input whatever the input.
 *
 * `parseMessage`, for the decrypted message only (its signature already checked), also skips an
 * element that holds other elements (WeChat's fast-registration push has an `<info>` of its own
 * fields): the subtree must be well-formed under the same rules (plain elements, text, CDATA, XML's
 * five entities; `<Name/>` allowed), at most 8 levels below the root and within the 64 elements in
 * all; it is not a field. The envelope, which anyone can send, is read by the strict `parseFlat`.
 *
 * @internal
 */
import * as Either from "effect/Either"
import { InvalidPush } from "../../WeChatError.js"

/** The largest push accepted, in bytes (WeChat's are under 2 KiB). @internal */
export const maxPushBytes = 64 * 1024

const maxFields = 64
/** The deepest a skipped subtree may go, in levels below the root (a top-level field is level 1). */
const maxDepth = 8
const namePattern = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/

const malformed = (description: string) =>
  Either.left(new InvalidPush({ reason: "Malformed", description: `not WeChat's push XML: ${description}` }))

const isSpace = (c: number) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d

const skipSpace = (text: string, i: number): number => {
  while (i < text.length && isSpace(text.charCodeAt(i))) i++
  return i
}

const named: Readonly<Record<string, string>> = { lt: "<", gt: ">", amp: "&", quot: "\"", apos: "'" }

/** Text content with XML's five entities and character references decoded; `undefined` for anything else. */
const decodeText = (raw: string): string | undefined => {
  if (!raw.includes("&")) return raw
  let out = ""
  let i = 0
  while (i < raw.length) {
    const amp = raw.indexOf("&", i)
    if (amp < 0) {
      out += raw.slice(i)
      break
    }
    out += raw.slice(i, amp)
    const semi = raw.indexOf(";", amp)
    if (semi < 0 || semi - amp > 10) return undefined
    const entity = raw.slice(amp + 1, semi)
    if (Object.hasOwn(named, entity)) {
      out += named[entity]
    } else if (/^#[0-9]{1,7}$/.test(entity) || /^#x[0-9a-fA-F]{1,6}$/.test(entity)) {
      const code = entity[1] === "x" ? parseInt(entity.slice(2), 16) : parseInt(entity.slice(1), 10)
      if (code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return undefined
      out += String.fromCodePoint(code)
    } else {
      return undefined
    }
    i = semi + 1
  }
  return out
}

/**
 * The end of the element whose open tag `<name>` ends just before `from` (the index after its close
 * tag), its subtree read and dropped; or the refusal. Iterative, each character looked at a bounded
 * number of times; `counted` is how many elements the document had before its children.
 */
const skipElement = (
  text: string,
  from: number,
  name: string,
  counted: number
): Either.Either<{ readonly end: number; readonly counted: number }, InvalidPush> => {
  const open = [name]
  let elements = counted
  let i = from
  while (open.length > 0) {
    if (text.startsWith("<![CDATA[", i)) {
      const end = text.indexOf("]]>", i + 9)
      if (end < 0) return malformed("a CDATA section is not closed")
      i = end + 3
      continue
    }
    const lt = text.indexOf("<", i)
    if (lt < 0) return malformed("an element is not closed")
    if (lt > i && decodeText(text.slice(i, lt)) === undefined) return malformed("an entity other than XML's five")
    i = lt
    if (text.startsWith("<![CDATA[", i)) continue
    const close = text.indexOf(">", i)
    if (close < 0) return malformed("a tag is not closed")
    const tag = text.slice(i + 1, close)
    i = close + 1
    if (tag.charCodeAt(0) === 0x2f) {
      if (tag.slice(1) !== open[open.length - 1]) return malformed("a nested element is not closed by its own tag")
      open.pop()
      continue
    }
    const selfClosing = tag.endsWith("/")
    if (!namePattern.test(selfClosing ? tag.slice(0, -1) : tag)) {
      return malformed("only plain elements are allowed (no declaration, DOCTYPE, comment or attribute)")
    }
    if (++elements > maxFields) return malformed(`more than ${maxFields} elements`)
    if (selfClosing) continue
    if (open.length >= maxDepth) return malformed(`elements nested more than ${maxDepth} deep`)
    open.push(tag)
  }
  return Either.right({ end: i, counted: elements })
}

const parse = (
  text: string,
  maxLength: number,
  skipNested: boolean
): Either.Either<ReadonlyMap<string, string>, InvalidPush> => {
  if (typeof text !== "string") return malformed("not text")
  if (text.length > maxLength) {
    return Either.left(new InvalidPush({ reason: "TooLarge", description: `more than ${maxLength} characters` }))
  }
  const fields = new Map<string, string>()
  /** The names of the root's elements: its fields and, in a message, the subtrees skipped. */
  const names = new Set<string>()
  let elements = 0
  let i = skipSpace(text, 0)
  if (!text.startsWith("<xml>", i)) return malformed("the root is not <xml>")
  i += 5
  for (;;) {
    i = skipSpace(text, i)
    if (text.startsWith("</xml>", i)) {
      i = skipSpace(text, i + 6)
      return i === text.length ? Either.right(fields) : malformed("content after the root")
    }
    if (text.charCodeAt(i) !== 0x3c) return malformed(i >= text.length ? "the root is not closed" : "text in the root")
    const close = text.indexOf(">", i)
    if (close < 0) return malformed("a tag is not closed")
    const tag = text.slice(i + 1, close)
    const selfClosing = skipNested && tag.endsWith("/")
    const name = selfClosing ? tag.slice(0, -1) : tag
    if (!namePattern.test(name)) {
      return malformed("only plain elements are allowed (no declaration, DOCTYPE, comment or attribute)")
    }
    if (names.has(name)) return malformed("a repeated field")
    if (++elements > maxFields) return malformed(`more than ${maxFields} fields`)
    names.add(name)
    i = close + 1
    if (selfClosing) continue
    let value: string | undefined
    let end: number
    if (text.startsWith("<![CDATA[", i)) {
      const cdataEnd = text.indexOf("]]>", i + 9)
      if (cdataEnd < 0) return malformed("a CDATA section is not closed")
      value = text.slice(i + 9, cdataEnd)
      end = cdataEnd + 3
    } else {
      const lt = text.indexOf("<", i)
      if (lt < 0) return malformed("an element is not closed")
      value = decodeText(text.slice(i, lt))
      if (value === undefined) return malformed("an entity other than XML's five")
      end = lt
    }
    if (text.startsWith(`</${name}>`, end)) {
      fields.set(name, value)
      i = end + name.length + 3
      continue
    }
    if (!skipNested) return malformed("a nested or unclosed element")
    // a message's element holding others: read again from its start as a subtree, and dropped
    const skipped = skipElement(text, i, name, elements)
    if (Either.isLeft(skipped)) return Either.left(skipped.left)
    i = skipped.right.end
    elements = skipped.right.counted
  }
}

/**
 * The fields of a flat `<xml>` document, or `InvalidPush` (`TooLarge` or `Malformed`): for the
 * envelope, which anyone can send.
 *
 * @internal
 */
export const parseFlat = (
  text: string,
  maxLength: number = maxPushBytes
): Either.Either<ReadonlyMap<string, string>, InvalidPush> => parse(text, maxLength, false)

/**
 * The flat fields of a decrypted (authenticated) message, its nested elements well-formed and
 * skipped (not fields), or `InvalidPush` (`TooLarge` or `Malformed`).
 *
 * @internal
 */
export const parseMessage = (
  text: string,
  maxLength: number = maxPushBytes
): Either.Either<ReadonlyMap<string, string>, InvalidPush> => parse(text, maxLength, true)
