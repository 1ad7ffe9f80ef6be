/*
 * The two inner loops of data generation, in C: Philox blocks and binary COPY rows.
 *
 * Plain C, no Python API: built by setuptools as an optional extension and loaded with
 * ctypes (generate.py, backends/pgload/encode.py). Both produce exactly the bytes of
 * their numpy versions, which remain the path where this library was not built
 * (tests/test_generate_golden.py pins them for both).
 */
#include <stdint.h>
#include <string.h>

/* -- Philox4x64-10: the same numbers as numpy's Philox.random_raw ---------------------- */
#define M0 0xD2E7470EE14C6C93ULL
#define M1 0xCA5A826395121157ULL
#define W0 0x9E3779B97F4A7C15ULL
#define W1 0xBB67AE8584CAA73BULL

/* n blocks of 4 words; the counter is incremented (with carry) before each block, as
 * numpy does, so counter = start gives block start + 1 first. */
void fb_philox4x64_blocks(const uint64_t *key, const uint64_t *counter, int64_t n,
                          uint64_t *out) {
    uint64_t c0 = counter[0], c1 = counter[1], c2 = counter[2], c3 = counter[3];
    for (int64_t i = 0; i < n; i++) {
        if (++c0 == 0 && ++c1 == 0 && ++c2 == 0) ++c3;
        uint64_t x0 = c0, x1 = c1, x2 = c2, x3 = c3, k0 = key[0], k1 = key[1];
        for (int r = 0; r < 10; r++) {
            if (r) {
                k0 += W0;
                k1 += W1;
            }
            const __uint128_t p0 = (__uint128_t)M0 * x0;
            const __uint128_t p1 = (__uint128_t)M1 * x2;
            const uint64_t y0 = (uint64_t)(p1 >> 64) ^ x1 ^ k0;
            const uint64_t y2 = (uint64_t)(p0 >> 64) ^ x3 ^ k1;
            x0 = y0;
            x1 = (uint64_t)p1;
            x2 = y2;
            x3 = (uint64_t)p0;
        }
        out[4 * i] = x0;
        out[4 * i + 1] = x1;
        out[4 * i + 2] = x2;
        out[4 * i + 3] = x3;
    }
}

/* -- binary COPY rows ---------------------------------------------------------------- */
static inline void put_be16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void put_be32(uint8_t *p, uint32_t v) {
    v = __builtin_bswap32(v);
    memcpy(p, &v, 4);
}

/* Rows of a batch: per row an int16 field count, then per fixed column an int32 length
 * and its value, then per variable column an int32 length and its bytes.
 * Fixed column c: `fix_src[c]` points at n values of `fix_w[c]` bytes each, in native
 * order; `fix_swap[c]` = 1 stores them big-endian (numbers), 0 as they are (text,
 * booleans). Variable column v: Arrow int32 offsets (n + 1, already shifted by the
 * array's offset) and data. Returns the bytes written (the caller sized `out`). */
int64_t fb_copy_rows(int64_t n, int64_t n_fix, const uint8_t *const *fix_src,
                     const int64_t *fix_w, const int64_t *fix_swap, int64_t n_var,
                     const int32_t *const *var_off, const uint8_t *const *var_data,
                     uint8_t *out) {
    uint8_t *p = out;
    const uint16_t fields = (uint16_t)(n_fix + n_var);
    for (int64_t i = 0; i < n; i++) {
        put_be16(p, fields);
        p += 2;
        for (int64_t c = 0; c < n_fix; c++) {
            const int64_t w = fix_w[c];
            const uint8_t *src = fix_src[c] + i * w;
            put_be32(p, (uint32_t)w);
            p += 4;
            if (!fix_swap[c] || w == 1) {
                memcpy(p, src, (size_t)w);
            } else if (w == 8) {
                uint64_t v;
                memcpy(&v, src, 8);
                v = __builtin_bswap64(v);
                memcpy(p, &v, 8);
            } else if (w == 4) {
                uint32_t v;
                memcpy(&v, src, 4);
                v = __builtin_bswap32(v);
                memcpy(p, &v, 4);
            } else {
                for (int64_t b = 0; b < w; b++) p[b] = src[w - 1 - b];
            }
            p += w;
        }
        for (int64_t v = 0; v < n_var; v++) {
            const int32_t a = var_off[v][i], b = var_off[v][i + 1];
            put_be32(p, (uint32_t)(b - a));
            p += 4;
            memcpy(p, var_data[v] + a, (size_t)(b - a));
            p += b - a;
        }
    }
    return (int64_t)(p - out);
}
