/*
 * The harness side of the physseg conformance ABI: psc_abort(), which an
 * implementation calls for a panic() or a failed KASSERT(). It writes one
 * record "kind\tmessage" to the descriptor the harness set and ends the
 * process with PSC_ABORT_STATUS, so the harness (which forked this process
 * for one call sequence) reports an abort instead of losing the run.
 */
#include <string.h>
#include <unistd.h>

#include "physseg_conformance.h"

#define PSC_ABORT_STATUS 86
#define PSC_MESSAGE_MAX 4096

static int psc_abort_fd = -1;

void
psc_runtime_set_abort_fd(int fd)
{
	psc_abort_fd = fd;
}

static void
psc_write_all(const char *text, size_t len)
{
	while (len > 0) {
		ssize_t n = write(psc_abort_fd, text, len);
		if (n <= 0)
			return;
		text += n;
		len -= (size_t)n;
	}
}

void
psc_abort(const char *kind, const char *message)
{
	if (psc_abort_fd >= 0) {
		size_t len = strnlen(message, PSC_MESSAGE_MAX);
		psc_write_all(kind, strnlen(kind, 64));
		psc_write_all("\t", 1);
		psc_write_all(message, len);
	}
	_exit(PSC_ABORT_STATUS);
}
