import raw from 'compact-encoding'

/**
 * compact-encoding's codecs, typed loosely (each user states the codec's shape where it uses it);
 * the module ships no types. Private to the package, like the other wrappers in this folder.
 */
export interface CompactEncoding {
  json: unknown
  string: unknown
  utf8: unknown
  binary: unknown
  uint: unknown
  buffer: unknown
  raw: unknown
  any: unknown
}

const c: CompactEncoding = raw
export default c
