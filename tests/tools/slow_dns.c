/* Test tool, never shipped: an LD_PRELOAD library that makes a host name
 * slow to resolve, so a test can show that a name server taking its time
 * does not stall the server's event loops.
 *
 * getaddrinfo() of a name ending in ".slow.test" sleeps SLOW_DNS_MS
 * milliseconds (default 2000), then answers as for 127.0.0.1; a name ending
 * in ".two.test" has two addresses, 127.0.0.2 (where nothing listens) first
 * and 127.0.0.1; a name ending in ".fail.test" is not found; every other
 * call goes to the C library. */
#include <dlfcn.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef int (*getaddrinfo_fn)(const char *, const char *, const struct addrinfo *,
                              struct addrinfo **);

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                struct addrinfo **res)
{
	getaddrinfo_fn real = (getaddrinfo_fn)dlsym(RTLD_NEXT, "getaddrinfo");
	if (node && ends_with(node, ".fail.test"))
		return EAI_NONAME;
	if (node && ends_with(node, ".two.test")) {
		struct addrinfo *first = NULL, *second = NULL;
		int rc = real("127.0.0.2", service, hints, &first);
		if (rc != 0)
			return rc;
		if ((rc = real("127.0.0.1", service, hints, &second)) != 0) {
			freeaddrinfo(first);
			return rc;
		}
		struct addrinfo *last = first;
		while (last->ai_next)
			last = last->ai_next;
		last->ai_next = second; /* glibc frees a list node by node */
		*res = first;
		return 0;
	}
	if (node && ends_with(node, ".slow.test")) {
		const char *ms = getenv("SLOW_DNS_MS");
		long delay = ms ? atol(ms) : 2000;
		struct timespec ts = {delay / 1000, (delay % 1000) * 1000000L};
		nanosleep(&ts, NULL);
		return real("127.0.0.1", service, hints, res);
	}
	return real(node, service, hints, res);
}
