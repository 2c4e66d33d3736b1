/**
 * The rpm header as rpmdb stores it. It starts with a big-endian int32 count of index entries and
 * an int32 length of the data store. The index entries follow, 16 bytes each (tag, type, offset
 * into the data store, count), and then the data store.
 */

export const RpmTag = {
  NAME: 1000,
  VERSION: 1001,
  RELEASE: 1002,
  EPOCH: 1003,
  ARCH: 1022,
  FILEFLAGS: 1037,
  SOURCERPM: 1044,
  DIRINDEXES: 1116,
  BASENAMES: 1117,
  DIRNAMES: 1118,
} as const;

const TYPE_INT32 = 4;
const TYPE_STRING = 6;
const TYPE_STRING_ARRAY = 8;
const TYPE_I18NSTRING = 9;

/** rpm 4.x rejects headers with more data than this (its HEADER_DATA_MAX). The entry limit is ours. */
const MAX_ENTRIES = 0xffff;
const MAX_DATA_BYTES = 0x0fffffff;
const ENTRY_BYTES = 16;

export class RpmHeaderError extends Error {}

interface IndexEntry {
  type: number;
  offset: number;
  count: number;
}

/** One parsed header. Every read checks its offsets against the data store and throws RpmHeaderError when one is out of bounds. */
export class RpmHeader {
  readonly #entries = new Map<number, IndexEntry>();
  readonly #data: Buffer;

  constructor(blob: Uint8Array) {
    const buffer = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
    if (buffer.length < 8) throw new RpmHeaderError(`header of ${buffer.length} bytes is shorter than its 8-byte preamble`);

    const entryCount = buffer.readUInt32BE(0);
    const dataLength = buffer.readUInt32BE(4);
    if (entryCount === 0 || entryCount > MAX_ENTRIES) throw new RpmHeaderError(`header has ${entryCount} index entries; expected 1 to ${MAX_ENTRIES}`);
    if (dataLength > MAX_DATA_BYTES) throw new RpmHeaderError(`header data store of ${dataLength} bytes is larger than ${MAX_DATA_BYTES}`);

    const dataStart = 8 + entryCount * ENTRY_BYTES;
    if (dataStart + dataLength > buffer.length) {
      throw new RpmHeaderError(`header declares ${entryCount} entries and ${dataLength} data bytes, but the blob has only ${buffer.length} bytes`);
    }

    for (let index = 0; index < entryCount; index++) {
      const at = 8 + index * ENTRY_BYTES;
      const tag = buffer.readUInt32BE(at);
      const entry = { type: buffer.readUInt32BE(at + 4), offset: buffer.readInt32BE(at + 8), count: buffer.readUInt32BE(at + 12) };
      if (entry.offset < 0 || entry.offset > dataLength) throw new RpmHeaderError(`tag ${tag} has offset ${entry.offset} outside the data store of ${dataLength} bytes`);
      // The first entry of a tag wins, as in rpm's own lookup.
      if (!this.#entries.has(tag)) this.#entries.set(tag, entry);
    }

    this.#data = buffer.subarray(dataStart, dataStart + dataLength);
  }

  /** Reads a STRING, or the first value of an I18NSTRING or STRING_ARRAY; undefined when the tag is absent. */
  string(tag: number): string | undefined {
    const entry = this.#entries.get(tag);
    if (!entry) return undefined;
    if (entry.type !== TYPE_STRING && entry.type !== TYPE_I18NSTRING && entry.type !== TYPE_STRING_ARRAY) {
      throw new RpmHeaderError(`tag ${tag} has type ${entry.type}; expected a string`);
    }
    return this.#readStrings(tag, entry.offset, 1)[0];
  }

  stringArray(tag: number): string[] {
    const entry = this.#entries.get(tag);
    if (!entry) return [];
    if (entry.type !== TYPE_STRING_ARRAY) throw new RpmHeaderError(`tag ${tag} has type ${entry.type}; expected a string array`);
    return this.#readStrings(tag, entry.offset, entry.count);
  }

  int32Array(tag: number): number[] {
    const entry = this.#entries.get(tag);
    if (!entry) return [];
    if (entry.type !== TYPE_INT32) throw new RpmHeaderError(`tag ${tag} has type ${entry.type}; expected int32`);

    const end = entry.offset + entry.count * 4;
    if (end > this.#data.length) throw new RpmHeaderError(`tag ${tag} has ${entry.count} int32 values that end at ${end}, past the data store of ${this.#data.length} bytes`);

    const values: number[] = [];
    for (let at = entry.offset; at < end; at += 4) values.push(this.#data.readInt32BE(at));
    return values;
  }

  #readStrings(tag: number, offset: number, count: number): string[] {
    if (count > this.#data.length) throw new RpmHeaderError(`tag ${tag} declares ${count} strings in a data store of ${this.#data.length} bytes`);

    const values: string[] = [];
    let at = offset;
    for (let index = 0; index < count; index++) {
      const end = this.#data.indexOf(0, at);
      if (end < 0) throw new RpmHeaderError(`tag ${tag}: string ${index} at offset ${at} has no terminating NUL inside the data store`);
      values.push(this.#data.toString('utf8', at, end));
      at = end + 1;
    }
    return values;
  }
}
