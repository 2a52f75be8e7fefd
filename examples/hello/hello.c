/* The arch-core example app: prints one known line (the tests and the demo look for it). */
#include <stdio.h>

int main(void)
{
	puts("Hello from arch-core");
	return 0;
}
