/*
 * Facts about the x86_64 signal frame for test/unit/sigframe-x86_64.test.ts. Built twice:
 *
 *   gcc sigframe_probe.c             the kernel's uapi layouts (struct ucontext, struct sigcontext,
 *                                    stack_t, struct _fpstate_64, the magic words, uc_flags bits)
 *   gcc -DPROBE_GLIBC sigframe_probe.c   glibc's ucontext_t, and a real frame: a handler prints
 *                                    the rt_sigframe the kernel wrote (pretcode..fpstate..magic2)
 *
 * Output: one "name value" line per fact; "frame ADDR HEX" for the captured frame.
 */
#ifdef PROBE_GLIBC
#define _GNU_SOURCE
#endif
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#ifndef PROBE_GLIBC
#include <asm/sigcontext.h>
#include <asm/signal.h>
#include <asm/siginfo.h>
#include <asm/ucontext.h>
#include <linux/signal.h>

#define OFF(type, field) printf("%s.%s %zu\n", #type, #field, offsetof(struct type, field))
#define SC(field) printf("sigcontext.%s %zu\n", #field, offsetof(struct sigcontext, field))

int main(void) {
  printf("ucontext.size %zu\n", sizeof(struct ucontext));
  OFF(ucontext, uc_flags);
  OFF(ucontext, uc_link);
  OFF(ucontext, uc_stack);
  OFF(ucontext, uc_mcontext);
  OFF(ucontext, uc_sigmask);
  printf("stack_t.size %zu\n", sizeof(stack_t));
  printf("stack_t.ss_sp %zu\n", offsetof(stack_t, ss_sp));
  printf("stack_t.ss_flags %zu\n", offsetof(stack_t, ss_flags));
  printf("stack_t.ss_size %zu\n", offsetof(stack_t, ss_size));
  printf("siginfo.size %zu\n", sizeof(siginfo_t));
  printf("sigcontext.size %zu\n", sizeof(struct sigcontext));
  SC(r8); SC(r9); SC(r10); SC(r11); SC(r12); SC(r13); SC(r14); SC(r15);
  SC(rdi); SC(rsi); SC(rbp); SC(rbx); SC(rdx); SC(rax); SC(rcx); SC(rsp); SC(rip); SC(eflags);
  SC(cs); SC(gs); SC(fs); SC(ss); SC(err); SC(trapno); SC(oldmask); SC(cr2); SC(fpstate);
  printf("fpstate.size %zu\n", sizeof(struct _fpstate_64));
  printf("fpstate.sw_reserved %zu\n", offsetof(struct _fpstate_64, sw_reserved));
  printf("sw.size %zu\n", sizeof(struct _fpx_sw_bytes));
  printf("sw.magic1 %zu\n", offsetof(struct _fpx_sw_bytes, magic1));
  printf("sw.extended_size %zu\n", offsetof(struct _fpx_sw_bytes, extended_size));
  printf("sw.xfeatures %zu\n", offsetof(struct _fpx_sw_bytes, xfeatures));
  printf("sw.xstate_size %zu\n", offsetof(struct _fpx_sw_bytes, xstate_size));
  printf("xstate.header %zu\n", offsetof(struct _xstate, xstate_hdr));
  printf("const.FP_XSTATE_MAGIC1 %u\n", FP_XSTATE_MAGIC1);
  printf("const.FP_XSTATE_MAGIC2 %u\n", FP_XSTATE_MAGIC2);
  printf("const.UC_FP_XSTATE %d\n", UC_FP_XSTATE);
  printf("const.UC_SIGCONTEXT_SS %d\n", UC_SIGCONTEXT_SS);
  printf("const.UC_STRICT_RESTORE_SS %d\n", UC_STRICT_RESTORE_SS);
  printf("const.SS_DISABLE %d\n", SS_DISABLE);
  return 0;
}

#else
#include <signal.h>
#include <sys/ucontext.h>

static void handler(int sig, siginfo_t *si, void *ctx) {
  (void)sig, (void)si;
  ucontext_t *uc = ctx;
  const uint8_t *frame = (const uint8_t *)uc - 8;
  const uint8_t *fp = (const uint8_t *)uc->uc_mcontext.fpregs;
  uint32_t xsize;
  memcpy(&xsize, fp + 464 + 16, 4);
  size_t len = (size_t)(fp - frame) + xsize + 4;
  printf("frame %#lx ", (unsigned long)frame);
  for (size_t i = 0; i < len; i++) printf("%02x", frame[i]);
  printf("\n");
}

int main(void) {
  printf("glibc.uc_stack %zu\n", offsetof(ucontext_t, uc_stack));
  printf("glibc.uc_mcontext %zu\n", offsetof(ucontext_t, uc_mcontext));
  printf("glibc.uc_sigmask %zu\n", offsetof(ucontext_t, uc_sigmask));
  printf("glibc.gregs.r8 %d\n", REG_R8 * 8);
  printf("glibc.gregs.rip %d\n", REG_RIP * 8);
  printf("glibc.gregs.efl %d\n", REG_EFL * 8);
  printf("glibc.fpregs %zu\n", offsetof(mcontext_t, fpregs));
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_sigaction = handler;
  sa.sa_flags = SA_SIGINFO;
  sigaction(SIGUSR1, &sa, NULL);
  sigset_t m;
  sigemptyset(&m);
  sigaddset(&m, SIGHUP);
  sigaddset(&m, SIGRTMIN + 2);
  sigprocmask(SIG_BLOCK, &m, NULL);
  raise(SIGUSR1);
  return 0;
}
#endif
