/* The library another user wants root to load: its constructor leaves a marker file
 * (MARKER, given at compile time), so a test sees that it was loaded. */
#include <fcntl.h>
#include <unistd.h>

__attribute__((constructor)) static void loaded(void)
{
	int fd = open(MARKER, O_WRONLY | O_CREAT | O_APPEND, 0644);
	if (fd >= 0) {
		write(fd, "loaded\n", 7);
		close(fd);
	}
}
