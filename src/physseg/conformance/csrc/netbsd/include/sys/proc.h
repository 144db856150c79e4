/* physseg NetBSD glue: <sys/proc.h> (nothing of it is used). */
#ifndef PSC_SYS_PROC_H
#define PSC_SYS_PROC_H
#endif
