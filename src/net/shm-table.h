/* shm-table.h - the open-addressing hash table behind the per-key counters
 * that workers share (connlimits.c, spool-limits.c).
 *
 * Why this exists: those counters live in one anonymous MAP_SHARED region
 * that the master maps before fork, so a table cannot grow or point
 * anywhere (no malloc, no pointers: every process sees the region at its
 * own address). Each table is a fixed array of slots in that region,
 * searched by linear probing from the key's home slot (key & (nslots-1))
 * for at most SHM_TABLE_MAX_PROBE slots; a key whose neighbourhood is full
 * is simply not stored, and the callers fail open. Entries are removed
 * with backward-shift deletion instead of tombstones, so a table holding
 * counters that come and go (addresses, users) never silts up with dead
 * entries and every remaining key stays reachable from its home slot.
 *
 * The functions take no lock: the callers hold their region's
 * process-shared mutex around every call and every use of a returned slot.
 *
 * A slot is any struct whose FIRST member is `uint64_t key` (0 = empty);
 * each user checks that with a static assertion. Tables are passed as
 * (table, nslots, slot_size); nslots must be a power of two. Keys are
 * 64-bit hashes (shm_hash_str, shm_hash_mix), never 0; two keys whose
 * hashes collide share a slot, which the callers accept.
 */
#ifndef DARIUS_SHM_TABLE_H
#define DARIUS_SHM_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SHM_TABLE_MAX_PROBE 64

/* The slot of key in table; with create, a free slot in its neighbourhood
 * is claimed: zero-filled, with key set. NULL when key is absent (without
 * create) or when its SHM_TABLE_MAX_PROBE slots are all taken by other
 * keys. */
void *shm_table_find(void *table, size_t nslots, size_t slot_size, uint64_t key, bool create);

/* Remove slot (a slot of table with a key), shifting later entries of its
 * probe run back so that no lookup stops early; the slot left free is
 * zero-filled; on a completely full table too. Note that this may move
 * another entry INTO slot: a loop erasing as it scans must look at the
 * same index again. */
void shm_table_erase(void *table, size_t nslots, size_t slot_size, void *slot);

/* splitmix64's finaliser: spreads every input bit over the low bits used
 * for the home slot. Never 0 (the empty key). */
uint64_t shm_hash_mix(uint64_t h);

/* FNV-1a of the string s (not NULL), then shm_hash_mix. */
uint64_t shm_hash_str(const char *s);

#endif
