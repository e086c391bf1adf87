// Declarations Swift's Glibc module does not export on Linux: the extended-attribute calls
// (<sys/xattr.h>, wrapped by `HostXattrs`) and the per-thread file-system identity
// (<sys/fsuid.h>, which tests use to act as another user on one thread), and glibc's allocator
// tuning (<malloc.h>: `mallopt`, which afs-server uses to map large buffers), and `getrandom`
// (<sys/random.h>: one call fills a buffer, which `RandomID` draws ids from). Nothing else belongs here.
#pragma once
#include <sys/types.h>
#include <sys/xattr.h>
#include <sys/fsuid.h>
#include <malloc.h>
#include <sys/random.h>
