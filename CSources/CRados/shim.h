// Debian ships no librados.pc: the header is in /usr/include, the library linked by name.
#include <rados/librados.h>
