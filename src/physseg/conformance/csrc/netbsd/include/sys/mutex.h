/* physseg NetBSD glue: mutex(9). The userspace build is single-threaded: no-ops. */
#ifndef PSC_SYS_MUTEX_H
#define PSC_SYS_MUTEX_H

typedef struct kmutex {
	int mtx_unused;
} kmutex_t;

enum { MUTEX_DEFAULT = 0 };
enum { IPL_NONE = 0, IPL_VM = 6 };

static inline void mutex_init(kmutex_t *m, int type, int ipl) { (void)m; (void)type; (void)ipl; }
static inline void mutex_destroy(kmutex_t *m) { (void)m; }
static inline void mutex_enter(kmutex_t *m) { (void)m; }
static inline void mutex_exit(kmutex_t *m) { (void)m; }

#endif /* PSC_SYS_MUTEX_H */
