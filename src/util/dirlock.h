/* One writer per output directory. Every program that writes a directory (maskdit-train's
 * experiment directory, maskdit-generate's --results_dir, maskdit-convert's --out) takes its lock
 * before writing anything there and keeps it until the process ends: a second writer stops at
 * once with a message naming the holder's program, host and PID.
 *
 * The lock is an fcntl() record lock on "<dir>/.maskdit.lock": the kernel (or the file server)
 * releases it when the holding process dies, however it dies, so a crashed run never leaves a
 * stale lock on a local file system. The file holds a line naming the holder, for the message.
 *
 * Shared file systems (docs/maskdit-train.md, "One writer per directory"):
 *  - Lustre mounted without flock/localflock answers ENOSYS, an NFS mount without its lock
 *    service ENOLCK: the program stops and says so; MASKDIT_LOCK=off runs without the lock once
 *    the user has made sure nothing else writes the directory.
 *  - NFS keeps the lock of a node that died until the server's lease ends (about 90 s): a job
 *    requeued onto another node meets it. MASKDIT_LOCK_WAIT=SECONDS retries for that long. */
#ifndef MASKDIT_DIRLOCK_H
#define MASKDIT_DIRLOCK_H

#include "common.h"

#define DIR_LOCK_FILE ".maskdit.lock"

/* Take the lock of the existing directory dir for the rest of this process (taking it again is a
 * no-op). program names this program in the lock file; advice ends the message a second writer
 * gets (e.g. "give this run another --results_dir"). Returns -1 with a message when another
 * process holds it or the file system cannot lock. */
int dir_lock(const char *dir, const char *program, const char *advice, Error *e);

/* The message for a lock that could not be taken with errno err (EACCES/EAGAIN: held by holder,
 * the text another process wrote in the lock file; ENOSYS, ENOLCK: no locks there). */
int dir_lock_failure(const char *lock_path, int err, const char *holder, const char *advice, Error *e);

#endif
