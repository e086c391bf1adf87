// libfuse3's low-level API (inode-based requests, replies sent by the callbacks), pinned to the
// 3.12 interface. The version must be defined before the header: it selects which of libfuse's
// versioned entry points the macros resolve to.
#define FUSE_USE_VERSION 312
#include <fuse3/fuse_lowlevel.h>
#include <errno.h>
#include <stdlib.h>

// `fuse_session_new` takes the operations table's size; Swift cannot see `sizeof`, so the size is
// pinned here, in one place.
static inline struct fuse_session *afs_session_new(struct fuse_args *args, const struct fuse_lowlevel_ops *ops, void *userdata) {
    return fuse_session_new(args, ops, sizeof(struct fuse_lowlevel_ops), userdata);
}

// A read answered from a descriptor: libfuse reads or splices `size` bytes at `offset` from `fd`
// into the reply (fewer at the end of the file). Replies, with the error if it fails.
static inline int afs_reply_from_fd(fuse_req_t req, int fd, size_t size, off_t offset) {
    struct fuse_bufvec vec = FUSE_BUFVEC_INIT(size);
    vec.buf[0].flags = (enum fuse_buf_flags)(FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK);
    vec.buf[0].fd = fd;
    vec.buf[0].pos = offset;
    return fuse_reply_data(req, &vec, FUSE_BUF_SPLICE_MOVE);
}

// `struct fuse_file_info` keeps its flags in bitfields; these keep Swift off their layout.
static inline void afs_fi_set_keep_cache(struct fuse_file_info *fi, int on) { fi->keep_cache = on ? 1 : 0; }
static inline void afs_fi_set_noflush(struct fuse_file_info *fi, int on) { fi->noflush = on ? 1 : 0; }

// A no-op handler for `sig` installed without SA_RESTART, so delivering `sig` to a worker blocked
// reading /dev/fuse makes the read return EINTR and the worker notice that the session exited.
#include <signal.h>
static void afs_wakeup_handler(int sig) { (void)sig; }
static inline int afs_install_wakeup_handler(int sig) {
    struct sigaction action;
    sigemptyset(&action.sa_mask);
    action.sa_flags = 0;
    action.sa_handler = afs_wakeup_handler;
    return sigaction(sig, &action, NULL);
}

// Unblocks the signals that end a mount in the calling thread. A parent (a test runner, a
// supervisor) may hand down a mask blocking them, and then no thread would ever see them.
static inline int afs_unblock_termination_signals(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    return pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}
