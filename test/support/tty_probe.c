/*
 * Prints the terminal ioctl numbers and the kernel's struct termios and struct winsize layouts
 * from the kernel's uapi headers (not glibc's <termios.h>, whose struct termios differs), for
 * test/unit/sys-tty.test.ts.
 */
#include <stddef.h>
#include <stdio.h>
#include <asm/ioctls.h>
#include <asm/termbits.h>
#include <asm/termios.h>

#define CONST(name) printf("const %s %lu\n", #name, (unsigned long)(name))
#define FIELD(type, member) printf("field %s %zu %zu\n", #member, offsetof(type, member), sizeof(((type *)0)->member))

int main(void)
{
	CONST(TCGETS);
	CONST(TCSETS);
	CONST(TIOCEXCL);
	CONST(TIOCSCTTY);
	CONST(TIOCSPGRP);
	CONST(TIOCSWINSZ);
	CONST(TIOCPKT);
	CONST(TIOCSLCKTRMIOS);
	CONST(TIOCSPTLCK);
	CONST(TIOCGPGRP);
	CONST(TIOCGWINSZ);
	CONST(TIOCGSID);
	CONST(TIOCGLCKTRMIOS);
	CONST(TIOCGPTN);
	CONST(TIOCGPKT);
	CONST(TIOCGPTLCK);
	CONST(TIOCGEXCL);
	CONST(NCCS);
	printf("size termios %zu\n", sizeof(struct termios));
	FIELD(struct termios, c_iflag);
	FIELD(struct termios, c_oflag);
	FIELD(struct termios, c_cflag);
	FIELD(struct termios, c_lflag);
	FIELD(struct termios, c_line);
	FIELD(struct termios, c_cc);
	printf("size winsize %zu\n", sizeof(struct winsize));
	return 0;
}
