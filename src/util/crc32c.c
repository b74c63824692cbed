/*
 * crc32c.c - CRC-32C with a hardware path and a slicing-by-8 table path.
 *
 * The table is built once per process under pthread_once; it is constant
 * afterwards, so a fork never sees it half-written.
 */
#include "config.h"

#include <pthread.h>
#include <string.h>

#include "util/crc32c.h"

#if defined(__x86_64__) || defined(__i386__)
#include <nmmintrin.h>
#define FCI_CRC_X86 1
#endif

#define CRC32C_POLY 0x82f63b78u /* Castagnoli polynomial, bit-reflected */

static uint32_t crc_table[8][256];
static pthread_once_t crc_table_once = PTHREAD_ONCE_INIT;

/* Row 0 is the classic byte-at-a-time table; row k advances a byte's CRC
 * through k more zero bytes, which lets eight bytes fold in one step. */
static void crc_table_build(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ CRC32C_POLY : c >> 1;
        crc_table[0][i] = c;
    }
    for (int row = 1; row < 8; row++)
        for (int i = 0; i < 256; i++) {
            uint32_t prev = crc_table[row - 1][i];
            crc_table[row][i] = (prev >> 8) ^ crc_table[0][prev & 0xff];
        }
}

static uint32_t load_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

uint32_t fci_crc32c_extend_table(uint32_t crc, const void *data, size_t n)
{
    pthread_once(&crc_table_once, crc_table_build);
    const unsigned char *p = data;
    uint32_t l = ~crc;
    while (n >= 8) {
        uint32_t lo = load_le32(p) ^ l;
        uint32_t hi = load_le32(p + 4);
        l = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
            crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^
            crc_table[3][hi & 0xff] ^ crc_table[2][(hi >> 8) & 0xff] ^
            crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
        p += 8;
        n -= 8;
    }
    while (n--)
        l = (l >> 8) ^ crc_table[0][(l ^ *p++) & 0xff];
    return ~l;
}

#ifdef FCI_CRC_X86
int fci_crc32c_hw_available(void)
{
    return __builtin_cpu_supports("sse4.2");
}

__attribute__((target("sse4.2")))
uint32_t fci_crc32c_extend_hw(uint32_t crc, const void *data, size_t n)
{
    const unsigned char *p = data;
    uint32_t l = ~crc;
#if defined(__x86_64__)
    uint64_t l64 = l;
    while (n >= 8) {
        uint64_t word;
        memcpy(&word, p, 8); /* unaligned-safe; x86 is little-endian */
        l64 = _mm_crc32_u64(l64, word);
        p += 8;
        n -= 8;
    }
    l = (uint32_t)l64;
#endif
    while (n--)
        l = _mm_crc32_u8(l, *p++);
    return ~l;
}
#else
int fci_crc32c_hw_available(void)
{
    return 0;
}

uint32_t fci_crc32c_extend_hw(uint32_t crc, const void *data, size_t n)
{
    return fci_crc32c_extend_table(crc, data, n);
}
#endif

uint32_t fci_crc32c_extend(uint32_t crc, const void *data, size_t n)
{
    if (fci_crc32c_hw_available())
        return fci_crc32c_extend_hw(crc, data, n);
    return fci_crc32c_extend_table(crc, data, n);
}
