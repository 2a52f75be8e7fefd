/*
 * The arch-core example app: prints one known line (the tests and the demo look for it).
 * With --serve it then keeps running until it is stopped, as a service in a fleet unit must:
 * deploy-fleet waits until every machine reports the unit active/running.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	puts("Hello from arch-core");
	if (argc > 1 && strcmp(argv[1], "--serve") == 0) {
		fflush(stdout);
		for (;;)
			pause(); /* until SIGTERM (docker stop) ends the process */
	}
	return 0;
}
