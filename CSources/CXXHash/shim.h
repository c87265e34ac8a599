#include <xxhash.h>
#include <xxh_x86dispatch.h>
