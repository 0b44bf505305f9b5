// Incremental scanner of HTTP/1.1 chunked framing. It does not decode: the proxy forwards the
// raw bytes and only needs to know where the message ends.

const SIZE_START = 0;
const SIZE = 1;
const EXT = 2;
const SIZE_LF = 3;
const DATA = 4;
const DATA_CR = 5;
const DATA_LF = 6;
const TRAILER_START = 7;
const TRAILER_LINE = 8;
const FINAL_LF = 9;

export const CHUNKED_NEED_MORE = -1;
export const CHUNKED_ERROR = -2;

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 0x20;
  if (l >= 97 && l <= 102) return l - 87;
  return -1;
}

export class ChunkScanner {
  state = SIZE_START;
  size = 0;

  reset(): void {
    this.state = SIZE_START;
    this.size = 0;
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
    while (i < n) {
      const c = b[i] as number;
      switch (state) {
        case SIZE_START: {
          const h = hexValue(c);
          if (h < 0) return CHUNKED_ERROR;
          size = h;
          state = SIZE;
          i++;
          break;
        }
        case SIZE: {
          const h = hexValue(c);
          if (h >= 0) {
            size = size * 16 + h;
            if (size > Number.MAX_SAFE_INTEGER / 32) return CHUNKED_ERROR;
          } else if (c === 13) state = SIZE_LF;
          else if (c === 59 || c === 32 || c === 9) state = EXT;
          else return CHUNKED_ERROR;
          i++;
          break;
        }
        case EXT:
          if (c === 13) state = SIZE_LF;
          i++;
          break;
        case SIZE_LF:
          if (c !== 10) return CHUNKED_ERROR;
          state = size === 0 ? TRAILER_START : DATA;
          i++;
          break;
        case DATA: {
          const take = Math.min(size, n - i);
          size -= take;
          i += take;
          if (size === 0) state = DATA_CR;
          break;
        }
        case DATA_CR:
          if (c !== 13) return CHUNKED_ERROR;
          state = DATA_LF;
          i++;
          break;
        case DATA_LF:
          if (c !== 10) return CHUNKED_ERROR;
          state = SIZE_START;
          i++;
          break;
        case TRAILER_START:
          state = c === 13 ? FINAL_LF : TRAILER_LINE;
          i++;
          break;
        case TRAILER_LINE:
          if (c === 10) state = TRAILER_START;
          i++;
          break;
        case FINAL_LF:
          if (c !== 10) return CHUNKED_ERROR;
          this.state = SIZE_START;
          this.size = 0;
          return i + 1;
      }
    }
    this.state = state;
    this.size = size;
    return CHUNKED_NEED_MORE;
  }
}
