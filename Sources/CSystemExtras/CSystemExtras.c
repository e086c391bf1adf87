// Intentionally empty: the target exists to export <sys/xattr.h> to Swift (see include/CSystemExtras.h).
#include "CSystemExtras.h"
