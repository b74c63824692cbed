/*
 * crc32c.h - CRC-32C (Castagnoli), as LevelDB checksums its blocks and log
 * records, plus LevelDB's mask for CRCs stored next to the data they cover.
 */
#ifndef FC_UTIL_CRC32C_H
#define FC_UTIL_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continues a CRC: crc is the value of the bytes before data (0 to start).
 * Uses the SSE4.2 instruction where the CPU has it, a table otherwise. */
uint32_t fci_crc32c_extend(uint32_t crc, const void *data, size_t n);

static inline uint32_t fci_crc32c(const void *data, size_t n)
{
    return fci_crc32c_extend(0, data, n);
}

/* The two implementations, exposed so tests can prove they agree. */
uint32_t fci_crc32c_extend_table(uint32_t crc, const void *data, size_t n);
uint32_t fci_crc32c_extend_hw(uint32_t crc, const void *data, size_t n);
int fci_crc32c_hw_available(void);

/* A CRC stored inside data that is itself CRC'd is masked, so the CRC of a
 * string that embeds its own CRC is not trivially predictable. */
#define FCI_CRC_MASK_DELTA 0xa282ead8u

static inline uint32_t fci_crc32c_mask(uint32_t crc)
{
    return ((crc >> 15) | (crc << 17)) + FCI_CRC_MASK_DELTA;
}

static inline uint32_t fci_crc32c_unmask(uint32_t masked)
{
    uint32_t rot = masked - FCI_CRC_MASK_DELTA;
    return (rot >> 17) | (rot << 15);
}

#endif
