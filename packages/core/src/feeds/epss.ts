import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { StringDecoder } from 'node:string_decoder';
import { createGunzip } from 'node:zlib';

import { InvalidInputError } from '../errors.ts';

/**
 * The daily EPSS file that FIRST publishes: one comment line such as
 * `#model_version:v2025.03.14,score_date:2026-12-03T12:55:00Z`, the header `cve,epss,percentile`
 * and one row per CVE, for example `CVE-2021-44228,0.94358,0.99957`. The file is about
 * 300,000 rows, so the parsers here read it line by line and hand each row to a callback
 * instead of building an array of their own.
 */
const FORMAT = 'EPSS CSV';

/** The CVE id pattern of the CISA KEV JSON schema; the number part has 4 to 19 digits. */
export const CVE_ID_PATTERN = /^CVE-\d{4}-\d{4,19}$/;

/** A decimal number, optionally in scientific notation as some CSV writers print small values. */
const DECIMAL_PATTERN = /^(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$/;

/** Real lines are under 70 characters, so a much longer one means the input is not an EPSS file. */
const MAX_LINE_LENGTH = 4096;

/**
 * The 2026 file has about 300,000 rows of about 33 bytes, so an estimated 10 MB decompressed;
 * this limit leaves room for 20 times that.
 */
export const DEFAULT_MAX_DECOMPRESSED_BYTES = 200 * 1024 * 1024;

export interface EpssScore {
  cve: string;
  /** Probability of exploitation activity in the next 30 days, from 0 to 1. */
  score: number;
  /** Share of all scored CVEs with a score at or below this one, from 0 to 1. Files from before the percentile column lack it. */
  percentile?: number;
}

/** Metadata of one EPSS file: the fields of its comment line and its row count. */
export interface EpssFileInfo {
  modelVersion?: string;
  /** The `score_date` of the comment line as an ISO 8601 timestamp in UTC. */
  scoreDate?: string;
  rowCount: number;
}

function invalid(lineNumber: number, message: string, value: string): InvalidInputError {
  return new InvalidInputError(`Invalid ${FORMAT} at line ${lineNumber}: ${message}`, { format: FORMAT, path: `line ${lineNumber}`, value });
}

function quote(text: string): string {
  return JSON.stringify(text.length > 60 ? `${text.slice(0, 57)}...` : text);
}

/**
 * Parses an EPSS CSV one line at a time. Comment lines may only come before the header; blank
 * lines are skipped. Every other line must be a row with a CVE id and numbers from 0 to 1,
 * or `line` throws an InvalidInputError that names the line number and the value.
 */
export class EpssCsvParser {
  private lineNumber = 0;
  private columns: 2 | 3 | undefined;
  private modelVersion: string | undefined;
  private scoreDate: string | undefined;
  private rowCount = 0;

  constructor(private readonly onScore: (score: EpssScore) => void) {}

  /** Parses one line, given without its line ending. */
  line(raw: string): void {
    this.lineNumber++;
    const text = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (text === '') return;

    if (this.columns === undefined) {
      if (text.startsWith('#')) this.readComment(text);
      else this.readHeader(text);
      return;
    }
    this.readRow(text);
  }

  /** Ends the input; throws when the header never came. */
  end(): EpssFileInfo {
    if (this.columns === undefined) {
      throw new InvalidInputError(`Invalid ${FORMAT}: the header line "cve,epss,percentile" is missing`, { format: FORMAT });
    }
    return { modelVersion: this.modelVersion, scoreDate: this.scoreDate, rowCount: this.rowCount };
  }

  private readComment(text: string): void {
    // Fields are `name:value` pairs separated by commas; a score_date value contains colons itself.
    for (const field of text.slice(1).split(',')) {
      const colon = field.indexOf(':');
      if (colon < 0) continue;
      const name = field.slice(0, colon).trim();
      const value = field.slice(colon + 1).trim();

      if (name === 'model_version') {
        this.modelVersion = value;
      } else if (name === 'score_date') {
        const time = Date.parse(value);
        if (Number.isNaN(time)) throw invalid(this.lineNumber, `score_date ${quote(value)} is not a date such as 2026-12-03T12:55:00Z`, value);
        this.scoreDate = new Date(time).toISOString();
      }
    }
  }

  private readHeader(text: string): void {
    const header = text.trim().toLowerCase();
    if (header === 'cve,epss,percentile') this.columns = 3;
    else if (header === 'cve,epss') this.columns = 2;
    else throw invalid(this.lineNumber, `expected the header "cve,epss,percentile", found ${quote(text)}`, text);
  }

  private readRow(text: string): void {
    const first = text.indexOf(',');
    const second = first < 0 ? -1 : text.indexOf(',', first + 1);
    const fieldCount = countFields(text);
    if (fieldCount !== this.columns) {
      throw invalid(this.lineNumber, `expected ${this.columns} comma-separated values, found ${fieldCount} in ${quote(text)}`, text);
    }

    const cve = text.slice(0, first);
    if (!CVE_ID_PATTERN.test(cve)) throw invalid(this.lineNumber, `${quote(cve)} is not a CVE id such as CVE-2021-44228`, cve);

    const scoreText = second < 0 ? text.slice(first + 1) : text.slice(first + 1, second);
    const score = this.probability(scoreText, 'epss');
    if (this.columns === 2) {
      this.onScore({ cve, score });
    } else {
      this.onScore({ cve, score, percentile: this.probability(text.slice(second + 1), 'percentile') });
    }
    this.rowCount++;
  }

  private probability(text: string, column: string): number {
    const value = DECIMAL_PATTERN.test(text) ? Number(text) : Number.NaN;
    if (!(value >= 0 && value <= 1)) throw invalid(this.lineNumber, `${column} ${quote(text)} is not a number from 0 to 1`, text);
    return value;
  }
}

function countFields(text: string): number {
  let count = 1;
  for (let index = text.indexOf(','); index >= 0; index = text.indexOf(',', index + 1)) count++;
  return count;
}

/** Parses an uncompressed EPSS CSV held in memory. */
export function parseEpssCsv(text: string, onScore: (score: EpssScore) => void): EpssFileInfo {
  const parser = new EpssCsvParser(onScore);
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;

  let start = 0;
  for (let lineNumber = 1; start <= body.length; lineNumber++) {
    const end = body.indexOf('\n', start);
    const stop = end < 0 ? body.length : end;
    if (stop - start > MAX_LINE_LENGTH) throw invalid(lineNumber, `the line is longer than ${MAX_LINE_LENGTH} characters`, body.slice(start, start + 60));
    parser.line(body.slice(start, stop));
    if (end < 0) break;
    start = end + 1;
  }

  return parser.end();
}

export interface GzipOptions {
  /** Stops with an error once the decompressed text exceeds this many bytes, so a small gzip bomb cannot fill memory. */
  maxDecompressedBytes?: number;
}

/** True when the bytes start with the gzip magic number 1f 8b. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/**
 * Decompresses and parses a gzip-compressed EPSS CSV as a stream: only the current chunk and
 * one partial line are held at a time. Corrupt or truncated gzip data is an InvalidInputError.
 */
export async function parseEpssCsvGzip(
  source: Uint8Array | AsyncIterable<Uint8Array>,
  onScore: (score: EpssScore) => void,
  options: GzipOptions = {},
): Promise<EpssFileInfo> {
  const maxBytes = options.maxDecompressedBytes ?? DEFAULT_MAX_DECOMPRESSED_BYTES;
  const parser = new EpssCsvParser(onScore);
  const decoder = new StringDecoder('utf8');
  let pending = '';
  let decompressed = 0;
  let lineNumber = 0;
  let first = true;

  // pipeline reports its own abort error when the last step throws, so the step keeps the real one.
  let failure: unknown;
  const consume = async (chunks: AsyncIterable<Buffer>) => {
    try {
      await readChunks(chunks);
    } catch (error) {
      failure = error;
      throw error;
    }
  };
  const readChunks = async (chunks: AsyncIterable<Buffer>) => {
    for await (const chunk of chunks) {
      decompressed += chunk.length;
      if (decompressed > maxBytes) {
        throw new InvalidInputError(`Invalid ${FORMAT}: the decompressed file exceeds ${maxBytes} bytes`, { format: FORMAT });
      }

      let text = pending + decoder.write(chunk);
      if (first && text.length > 0) {
        if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
        first = false;
      }

      let start = 0;
      for (let end = text.indexOf('\n'); end >= 0; end = text.indexOf('\n', start)) {
        lineNumber++;
        parser.line(text.slice(start, end));
        start = end + 1;
      }
      pending = text.slice(start);
      if (pending.length > MAX_LINE_LENGTH) throw invalid(lineNumber + 1, `the line is longer than ${MAX_LINE_LENGTH} characters`, pending.slice(0, 60));
    }
  };

  const input = source instanceof Uint8Array ? Readable.from([source]) : Readable.from(source);
  try {
    await pipeline(input, createGunzip(), consume);
  } catch (error) {
    if (failure !== undefined) throw failure;
    if (isZlibError(error)) {
      throw new InvalidInputError(`Invalid ${FORMAT}: the gzip data is corrupt or truncated (${(error as Error).message})`, { format: FORMAT }, { cause: error });
    }
    throw error;
  }

  const rest = pending + decoder.end();
  if (rest !== '') parser.line(rest);
  return parser.end();
}

function isZlibError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('Z_');
}
