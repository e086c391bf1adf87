// libfuse3's high-level API, pinned to the 3.5 interface. The version must be defined before the
// header: it selects which of libfuse's versioned entry points the macros below resolve to.
#define FUSE_USE_VERSION 35
#include <fuse3/fuse.h>
#include <fuse3/fuse_lowlevel.h>

// `fuse_new` and `fuse_loop_mt` are macros over versioned symbols; Swift cannot call macros,
// so these wrappers pin the symbol and the operations table's size in one place.
static inline struct fuse *afs_fuse_new(struct fuse_args *args, const struct fuse_operations *ops, void *private_data) {
    return fuse_new(args, ops, sizeof(struct fuse_operations), private_data);
}

// The loop that takes the 3.12 configuration object. With FUSE_USE_VERSION 35 the header maps
// `fuse_loop_mt` to `fuse_loop_mt_32`, which reads its argument as the older two-field
// `fuse_loop_config_v1`: handed a 3.12 object it took the version tag for `clone_fd` and a
// garbage idle limit, so every request cost a new thread, a new /dev/fuse descriptor and an
// ioctl (12,489 threads for one 1,069-entry untar), and `max_threads` was ignored.
int fuse_loop_mt_312(struct fuse *f, struct fuse_loop_config *config);

static inline int afs_fuse_loop_mt(struct fuse *f, unsigned int max_threads) {
    struct fuse_loop_config *config = fuse_loop_cfg_create();
    if (config == NULL) return -1;
    fuse_loop_cfg_set_max_threads(config, max_threads);
    // Keep every worker once started. libfuse's default destroys a thread that finds others idle
    // and starts a new one when none is: under a burst of requests (tar -x, rm -rf) that was a
    // thread created and destroyed per request (12,490 clone3 calls for one 1,069-entry untar).
    fuse_loop_cfg_set_idle_threads(config, max_threads);
    fuse_loop_cfg_set_clone_fd(config, 0);
    int result = fuse_loop_mt_312(f, config);
    fuse_loop_cfg_destroy(config);
    return result;
}

// A read answered from a descriptor: libfuse reads or splices `size` bytes at `offset` from `fd`
// after the callback returns, and frees the vector itself (it must come from malloc).
#include <errno.h>
#include <stdlib.h>
static inline int afs_fuse_bufvec_from_fd(struct fuse_bufvec **bufp, int fd, size_t size, off_t offset) {
    struct fuse_bufvec *vec = malloc(sizeof(struct fuse_bufvec));
    if (vec == NULL) return -ENOMEM;
    *vec = (struct fuse_bufvec)FUSE_BUFVEC_INIT(size);
    vec->buf[0].flags = (enum fuse_buf_flags)(FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK);
    vec->buf[0].fd = fd;
    vec->buf[0].pos = offset;
    *bufp = vec;
    return 0;
}

// `struct fuse_file_info` keeps its flags in bitfields; these keep Swift off their layout.
static inline void afs_fi_set_keep_cache(struct fuse_file_info *fi, int on) { fi->keep_cache = on ? 1 : 0; }
static inline void afs_fi_set_direct_io(struct fuse_file_info *fi, int on) { fi->direct_io = on ? 1 : 0; }

// The private data handed to `afs_fuse_new`, from inside a callback.
static inline void *afs_fuse_private_data(void) {
    struct fuse_context *context = fuse_get_context();
    return context ? context->private_data : NULL;
}

// A no-op handler for `sig` installed without SA_RESTART, so delivering `sig` to a thread blocked in
// sem_wait (fuse_loop_mt's main thread) makes it return EINTR and notice that the session exited.
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
