/* partition.h - storage-internal side of partitions and the store lock
 * (partition.c). Only storage.c and tests include this; the public API is
 * the "partitions" section of storage.h.
 */
#ifndef DARIUS_PARTITION_H
#define DARIUS_PARTITION_H

#include "storage.h"

/* For mail_user_open: take the shared store lock, check the store is not
 * busy (moving, renaming, deleting: STORAGE_ERR_BUSY), and resolve its
 * directory. With create, a store that exists nowhere yet is placed on
 * config defaultpartition. On success *dir is xmalloc'd and *lockfd holds
 * the shared flock until partition_store_release(). The name must
 * already be valid (storage_valid_username). */
/* The store's row in stores.db is in a normal state (or absent): 0; an
 * operation's mark: STORAGE_ERR_BUSY. For reusing a handle kept open
 * (storage_set_linger), which must not skip what an open checks. */
int partition_store_check(const char *name);
int partition_store_acquire(const char *name, bool create, char **dir, int *lockfd);
void partition_store_release(int lockfd);

/* mail_user_delete_store after validation: same busy/kick/lock protocol
 * as a move; BUSY at once when the store is open in this process. */
int partition_delete_store(const char *name);

/* Directory a store would have on a partition (NULL for an unknown
 * partition, or a shared store on any partition but "default"). */
char *partition_store_dir(const char *name, const char *partition);

#endif
