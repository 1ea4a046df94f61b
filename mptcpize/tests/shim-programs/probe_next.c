/* A preloaded library whose only job is to answer dlsym(RTLD_NEXT, name) as called from
 * itself: the reference next_symbols.rs compares the shim's one-pass lookup with. */
#define _GNU_SOURCE
#include <dlfcn.h>

void *probe_next(const char *name)
{
	void *found = dlsym(RTLD_NEXT, name);
	/* Not a tail call: dlsym takes its caller from its return address, which must be in
	 * this library (a jump to dlsym would leave the program's address there). */
	__asm__ volatile("" ::: "memory");
	return found;
}
