#ifndef CFILEEXCHANGE_H
#define CFILEEXCHANGE_H

/// Swaps the files at `from` and `to` in one step (renameat2 with RENAME_EXCHANGE, Linux 3.15+): 0, or -1
/// with errno set (EINVAL where the file system cannot, ENOENT where `to` does not exist).
int incrcc_exchange(const char *from, const char *to);

#endif
