// Declarations Swift's Glibc module does not export on Linux: the extended-attribute calls
// (<sys/xattr.h>). Nothing else belongs here; the Swift side wraps them in `HostXattrs`.
#pragma once
#include <sys/types.h>
#include <sys/xattr.h>
