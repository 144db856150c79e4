/* physseg NetBSD glue: NetBSD's <sys/endian.h> is glibc's <endian.h>. */
#ifndef PSC_SYS_ENDIAN_H
#define PSC_SYS_ENDIAN_H
#include <endian.h>
#endif
