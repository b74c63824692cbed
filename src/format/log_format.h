/*
 * log_format.h - constants of LevelDB's log format, shared by the writer and
 * the reader. The WAL (NNNNNN.log) and the MANIFEST both use it.
 *
 * A log file is a sequence of 32 KiB blocks. Each block holds physical
 * records: a 7-byte header (masked CRC32C of type byte + payload as fixed32,
 * payload length as fixed16, type byte) followed by the payload. A logical
 * record that does not fit in the rest of a block is cut into FIRST,
 * MIDDLE... and LAST fragments. Fewer than 7 bytes left at the end of a
 * block are a zero-filled trailer.
 */
#ifndef FC_FORMAT_LOG_FORMAT_H
#define FC_FORMAT_LOG_FORMAT_H

#define FCI_LOG_BLOCK_SIZE 32768
#define FCI_LOG_HEADER_SIZE 7

/* Physical record types. 0 is what preallocated (zeroed) space reads as. */
#define FCI_LOG_ZERO 0
#define FCI_LOG_FULL 1
#define FCI_LOG_FIRST 2
#define FCI_LOG_MIDDLE 3
#define FCI_LOG_LAST 4
#define FCI_LOG_MAX_TYPE FCI_LOG_LAST

#endif
