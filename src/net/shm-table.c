/* shm-table.c - fixed-size open-addressing tables in shared memory
 * (shm-table.h). */
#include "shm-table.h"
#include <string.h>

/* A slot's key: its first member (shm-table.h), so a pointer to the slot
 * is a pointer to its key. */
static uint64_t *key_at(char *t, size_t slot_size, size_t i)
{
    return (uint64_t *)(void *)(t + i * slot_size);
}

void *shm_table_find(void *table, size_t nslots, size_t slot_size, uint64_t key, bool create)
{
    char *t = table;
    size_t i = (size_t)(key & (nslots - 1));
    for (int probe = 0; probe < SHM_TABLE_MAX_PROBE; probe++, i = (i + 1) & (nslots - 1)) {
        uint64_t *k = key_at(t, slot_size, i);
        if (*k == key)
            return k;
        if (*k == 0) {
            if (!create)
                return NULL;
            memset(k, 0, slot_size);
            *k = key;
            return k;
        }
    }
    return NULL;
}

void shm_table_erase(void *table, size_t nslots, size_t slot_size, void *slot)
{
    char *t = table;
    size_t i = (size_t)((char *)slot - t) / slot_size;
    size_t start = i, j = i;
    for (;;) {
        j = (j + 1) & (nslots - 1);
        /* Back at the start: the table is full (no empty slot ends the
         * run) and every other entry has been looked at once. Without
         * this stop the loop would spin for ever with the caller's lock
         * held: a table of counters can fill up completely, the failed
         * logins' one at the hands of anyone with ~10,000 source
         * addresses or IPv6 /64s (tests/unit/test-net.c). */
        if (j == start)
            break;
        uint64_t kj = *key_at(t, slot_size, j);
        if (kj == 0)
            break;
        size_t home = (size_t)(kj & (nslots - 1));
        /* Can the entry at j move back to the hole at i? Only if its home
         * is not in (i, j] (cyclically): otherwise a lookup for it starts
         * past i and would never see it there. */
        bool between = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (between)
            continue;
        memcpy(t + i * slot_size, t + j * slot_size, slot_size);
        i = j;
    }
    memset(t + i * slot_size, 0, slot_size);
}

uint64_t shm_hash_mix(uint64_t h)
{
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 31;
    return h ? h : 1;
}

uint64_t shm_hash_str(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ULL;
    }
    return shm_hash_mix(h);
}
