// Incremental scanner of HTTP/1.1 chunked framing (RFC 9112 7.1). It does not decode: the proxy
// forwards the raw bytes and only needs to know where the message ends, so it is strict about every
// byte that could make another parser see a different end: chunk sizes are hex digits only (no
// whitespace, no overflow), extensions follow the token / quoted-string grammar with no control
// bytes, and trailer lines are field lines ended by CRLF (a bare LF or CR is an error).

import { C_QDTEXT, C_TCHAR, C_VCHAR, CHAR_CLASS } from './http-head.ts';

const SIZE_START = 0;
const SIZE = 1;
const EXT_NAME_START = 2;
const EXT_NAME = 3;
const EXT_VALUE_START = 4;
const EXT_TOKEN = 5;
const EXT_QUOTED = 6;
const EXT_QUOTED_PAIR = 7;
const EXT_QUOTED_END = 8;
const SIZE_LF = 9;
const DATA = 10;
const DATA_CR = 11;
const DATA_LF = 12;
const TRAILER_START = 13;
const TRAILER_NAME = 14;
const TRAILER_VALUE = 15;
const TRAILER_LF = 16;
const FINAL_LF = 17;

export const CHUNKED_NEED_MORE = -1;
export const CHUNKED_ERROR = -2;

/** Bytes of chunk extensions per chunk line, and of the whole trailer section. */
const MAX_EXTENSIONS = 4096;
const MAX_TRAILERS = 65536;

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 0x20;
  if (l >= 97 && l <= 102) return l - 87;
  return -1;
}

export class ChunkScanner {
  state = SIZE_START;
  size = 0;
  /** Bytes of extensions on this chunk line, or of trailers so far. */
  extra = 0;

  reset(): void {
    this.state = SIZE_START;
    this.size = 0;
    this.extra = 0;
  }

  /**
   * Scan `b` from `start`. Returns the offset just past the end of the message, CHUNKED_NEED_MORE
   * when every byte belongs to the message and it is not finished, or CHUNKED_ERROR.
   */
  scan(b: Uint8Array, start: number): number {
    let i = start;
    const n = b.length;
    let state = this.state;
    let size = this.size;
    const C = CHAR_CLASS;
    while (i < n) {
      const c = b[i] as number;
      if (state === DATA) {
        const take = Math.min(size, n - i);
        size -= take;
        i += take;
        if (size === 0) state = DATA_CR;
        continue;
      }
      i++;
      switch (state) {
        case SIZE_START: {
          const h = hexValue(c);
          if (h < 0) return CHUNKED_ERROR;
          size = h;
          state = SIZE;
          break;
        }
        case SIZE: {
          const h = hexValue(c);
          if (h >= 0) {
            size = size * 16 + h;
            if (size > Number.MAX_SAFE_INTEGER / 32) return CHUNKED_ERROR;
          } else if (c === 13) state = SIZE_LF;
          else if (c === 59) {
            state = EXT_NAME_START;
            this.extra = 0;
          } else return CHUNKED_ERROR;
          break;
        }
        case SIZE_LF:
          if (c !== 10) return CHUNKED_ERROR;
          if (size === 0) {
            state = TRAILER_START;
            this.extra = 0;
          } else state = DATA;
          break;
        case DATA_CR:
          if (c !== 13) return CHUNKED_ERROR;
          state = DATA_LF;
          break;
        case DATA_LF:
          if (c !== 10) return CHUNKED_ERROR;
          state = SIZE_START;
          break;
        case TRAILER_START:
          if (c === 13) state = FINAL_LF;
          else if ((C[c] as number) & C_TCHAR) state = TRAILER_NAME;
          else return CHUNKED_ERROR;
          break;
        case TRAILER_NAME:
          if (c === 58) state = TRAILER_VALUE;
          else if (((C[c] as number) & C_TCHAR) === 0) return CHUNKED_ERROR;
          if (++this.extra > MAX_TRAILERS) return CHUNKED_ERROR;
          break;
        case TRAILER_VALUE:
          if (c === 13) state = TRAILER_LF;
          else if (((C[c] as number) & C_VCHAR) === 0 && c !== 32 && c !== 9) return CHUNKED_ERROR;
          if (++this.extra > MAX_TRAILERS) return CHUNKED_ERROR;
          break;
        case TRAILER_LF:
          if (c !== 10) return CHUNKED_ERROR;
          state = TRAILER_START;
          break;
        case FINAL_LF:
          if (c !== 10) return CHUNKED_ERROR;
          this.state = SIZE_START;
          this.size = 0;
          return i;
        default:
          // Chunk extensions: *( ";" token [ "=" ( token / quoted-string ) ] ), no whitespace.
          if (++this.extra > MAX_EXTENSIONS) return CHUNKED_ERROR;
          state = extensionStep(state, c);
          if (state < 0) return CHUNKED_ERROR;
      }
    }
    this.state = state;
    this.size = size;
    return CHUNKED_NEED_MORE;
  }
}

function extensionStep(state: number, c: number): number {
  const k = CHAR_CLASS[c] as number;
  switch (state) {
    case EXT_NAME_START:
      return k & C_TCHAR ? EXT_NAME : -1;
    case EXT_NAME:
    case EXT_TOKEN:
    case EXT_QUOTED_END:
      if (c === 13) return SIZE_LF;
      if (c === 59) return EXT_NAME_START;
      if (state === EXT_NAME && c === 61) return EXT_VALUE_START;
      return state !== EXT_QUOTED_END && k & C_TCHAR ? state : -1;
    case EXT_VALUE_START:
      if (c === 34) return EXT_QUOTED;
      return k & C_TCHAR ? EXT_TOKEN : -1;
    case EXT_QUOTED:
      if (c === 34) return EXT_QUOTED_END;
      if (c === 92) return EXT_QUOTED_PAIR;
      return k & C_QDTEXT ? EXT_QUOTED : -1;
    case EXT_QUOTED_PAIR:
      return k & C_VCHAR || c === 32 || c === 9 ? EXT_QUOTED : -1;
    default:
      return -1;
  }
}
