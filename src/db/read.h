/*
 * read.h - per-process reader state shared by the transactions of one
 * process: how many are open and the version the process's slot pins.
 */
#ifndef FC_DB_READ_H
#define FC_DB_READ_H

#include <pthread.h>
#include <stdint.h>

#include "db/vrec.h"

typedef struct fci_reader_state {
    pthread_mutex_t mu;
    int active;          /* open transactions in this process */
    uint64_t pinned;     /* version the slot pins while active > 0 */
} fci_reader_state;

#endif
