/* Prints the layout of the host's NT_PRSTATUS register struct, one "field NAME OFFSET SIZE" line per
 * member and "size SIZE", for test/unit/arch-layout.test.ts to compare with arch/<arch>/ops.ts. */
#include <stddef.h>
#include <stdio.h>
#include <sys/user.h>

#define F(s, m) printf("field %s %zu %zu\n", #m, offsetof(s, m), sizeof(((s *)0)->m))

int main(void) {
#if defined(__x86_64__)
  printf("arch x86_64\n");
  printf("size %zu\n", sizeof(struct user_regs_struct));
  F(struct user_regs_struct, r15); F(struct user_regs_struct, r14); F(struct user_regs_struct, r13);
  F(struct user_regs_struct, r12); F(struct user_regs_struct, rbp); F(struct user_regs_struct, rbx);
  F(struct user_regs_struct, r11); F(struct user_regs_struct, r10); F(struct user_regs_struct, r9);
  F(struct user_regs_struct, r8); F(struct user_regs_struct, rax); F(struct user_regs_struct, rcx);
  F(struct user_regs_struct, rdx); F(struct user_regs_struct, rsi); F(struct user_regs_struct, rdi);
  F(struct user_regs_struct, orig_rax); F(struct user_regs_struct, rip); F(struct user_regs_struct, cs);
  F(struct user_regs_struct, eflags); F(struct user_regs_struct, rsp); F(struct user_regs_struct, ss);
  F(struct user_regs_struct, fs_base); F(struct user_regs_struct, gs_base); F(struct user_regs_struct, ds);
  F(struct user_regs_struct, es); F(struct user_regs_struct, fs); F(struct user_regs_struct, gs);
  printf("fpregs-size %zu\n", sizeof(struct user_fpregs_struct));
#elif defined(__aarch64__)
  printf("arch aarch64\n");
  printf("size %zu\n", sizeof(struct user_regs_struct));
  for (int i = 0; i < 31; i++) printf("field x%d %zu 8\n", i, offsetof(struct user_regs_struct, regs) + 8 * (size_t)i);
  F(struct user_regs_struct, sp); F(struct user_regs_struct, pc); F(struct user_regs_struct, pstate);
  printf("fpregs-size %zu\n", sizeof(struct user_fpsimd_struct));
#endif
  return 0;
}
