/*
 * parasite_target: a process for the parasite tests. It builds state only the task itself can
 * read (sigactions, blocked and pending signals, sigaltstacks, umask, itimers, a POSIX timer,
 * prctl values, a tid address), a memory region holding a known pattern and a few fds, prints one
 * READY line with the facts, then works: every thread spins with known values in its general,
 * AVX (and AVX-512) registers and checks them, so a parasite run that does not put a task back
 * exactly is caught. On SIGTERM it checks everything once more and writes PASS (or FAIL and the
 * reasons) to the marker file and stdout, then exits 0 (or 1). With $READY_FILE set it also writes
 * "ready PID" there once the READY line is out (test/support/programs.ts).
 *
 *   parasite_target MARKER [--threads N] [--mem MIB] [--mode spin|block]
 *
 * --mode block: the main thread waits in read(2) on a pipe (a syscall the parasite's stop
 * interrupts with -ERESTARTSYS, restarted after rt_sigreturn); the threads alternate spinning
 * and nanosleep (interrupted with -ERESTART_RESTARTBLOCK: they must take EINTR).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 16
#define ALTSTACK_SIZE (64 * 1024)
#define TIMERSLACK_NS 123457UL

static const char *marker;
static volatile sig_atomic_t finish;
static volatile int stop_threads;
static int wake_pipe[2];
static int has_avx512;
static char failures[4096];
static volatile int tid_word;                 /* set_tid_address() target of the main thread */

static void fail(const char *fmt, ...) {
  size_t n = strlen(failures);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(failures + n, sizeof(failures) - n, fmt, ap);
  va_end(ap);
  n = strlen(failures);
  if (n + 1 < sizeof(failures)) strcat(failures, "; ");
}

/* ---- registers: spin with known values, count mismatches ---- */

static uint64_t pattern[32][8] __attribute__((aligned(64)));

/*
 * Loads ymm0..ymm13 from pattern[0..13], r12..r15, rbx, r11, rcx (the loop counter) and a
 * non-default MXCSR, then loops `iters` times comparing them all; returns the mismatches seen.
 */
static long spin_avx(long iters) {
  long bad = 0;
  uint32_t mx_saved, mx_set = 0x3f80 /* round down, all exceptions masked */, mx_now = 0;
  __asm__ volatile("stmxcsr %0" : "=m"(mx_saved));
  __asm__ volatile("ldmxcsr %0" : : "m"(mx_set));
  __asm__ volatile(
      "vmovdqa 0*64(%[p]), %%ymm0\n vmovdqa 1*64(%[p]), %%ymm1\n vmovdqa 2*64(%[p]), %%ymm2\n"
      "vmovdqa 3*64(%[p]), %%ymm3\n vmovdqa 4*64(%[p]), %%ymm4\n vmovdqa 5*64(%[p]), %%ymm5\n"
      "vmovdqa 6*64(%[p]), %%ymm6\n vmovdqa 7*64(%[p]), %%ymm7\n vmovdqa 8*64(%[p]), %%ymm8\n"
      "vmovdqa 9*64(%[p]), %%ymm9\n vmovdqa 10*64(%[p]), %%ymm10\n vmovdqa 11*64(%[p]), %%ymm11\n"
      "vmovdqa 12*64(%[p]), %%ymm12\n vmovdqa 13*64(%[p]), %%ymm13\n"
      "movabs $0x1212121212121212, %%r12\n movabs $0x1313131313131313, %%r13\n"
      "movabs $0x1414141414141414, %%r14\n movabs $0x1515151515151515, %%r15\n"
      "movabs $0x0b0b0b0b0b0b0b0b, %%rbx\n movabs $0x1111111111111111, %%r11\n"
      "mov %[iters], %%rcx\n"
      "1:\n"
#define CHECK_YMM(i) \
      "vpcmpeqq " #i "*64(%[p]), %%ymm" #i ", %%ymm15\n vpmovmskb %%ymm15, %%eax\n cmp $-1, %%eax\n je 2f\n inc %[bad]\n 2:\n"
      CHECK_YMM(0) CHECK_YMM(1) CHECK_YMM(2) CHECK_YMM(3) CHECK_YMM(4) CHECK_YMM(5) CHECK_YMM(6)
      CHECK_YMM(7) CHECK_YMM(8) CHECK_YMM(9) CHECK_YMM(10) CHECK_YMM(11) CHECK_YMM(12) CHECK_YMM(13)
      "movabs $0x1212121212121212, %%rax\n cmp %%rax, %%r12\n je 3f\n inc %[bad]\n 3:\n"
      "movabs $0x1313131313131313, %%rax\n cmp %%rax, %%r13\n je 3f\n inc %[bad]\n 3:\n"
      "movabs $0x1414141414141414, %%rax\n cmp %%rax, %%r14\n je 3f\n inc %[bad]\n 3:\n"
      "movabs $0x1515151515151515, %%rax\n cmp %%rax, %%r15\n je 3f\n inc %[bad]\n 3:\n"
      "movabs $0x0b0b0b0b0b0b0b0b, %%rax\n cmp %%rax, %%rbx\n je 3f\n inc %[bad]\n 3:\n"
      "movabs $0x1111111111111111, %%rax\n cmp %%rax, %%r11\n je 3f\n inc %[bad]\n 3:\n"
      "dec %%rcx\n jnz 1b\n"
      "vzeroupper\n"
      : [bad] "+r"(bad)
      : [p] "r"(pattern), [iters] "r"(iters)
      : "rax", "rcx", "rbx", "r11", "r12", "r13", "r14", "r15", "cc", "memory",
        "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
        "xmm11", "xmm12", "xmm13", "xmm15");
  __asm__ volatile("stmxcsr %0" : "=m"(mx_now));
  __asm__ volatile("ldmxcsr %0" : : "m"(mx_saved));
  if (mx_now != mx_set) bad++;
  return bad;
}

/* The same with zmm16..zmm31 and k1..k3 (AVX-512 state the kernel keeps in other components). */
__attribute__((target("avx512f"))) static long spin_avx512(long iters) {
  long bad = 0;
  __asm__ volatile(
#define LOADZ(i) "vmovdqa64 (" #i "-16)*64(%[q]), %%zmm" #i "\n"
      LOADZ(16) LOADZ(17) LOADZ(18) LOADZ(19) LOADZ(20) LOADZ(21) LOADZ(22) LOADZ(23)
      LOADZ(24) LOADZ(25) LOADZ(26) LOADZ(27) LOADZ(28) LOADZ(29) LOADZ(30) LOADZ(31)
      "mov $0x5a, %%eax\n kmovw %%eax, %%k1\n mov $0xa5, %%eax\n kmovw %%eax, %%k2\n"
      "mov %[iters], %%rcx\n"
      "1:\n"
#define CHECKZ(i) \
      "vpcmpeqq (" #i "-16)*64(%[q]), %%zmm" #i ", %%k3\n kmovw %%k3, %%eax\n cmp $0xff, %%eax\n je 2f\n inc %[bad]\n 2:\n"
      CHECKZ(16) CHECKZ(17) CHECKZ(18) CHECKZ(19) CHECKZ(20) CHECKZ(21) CHECKZ(22) CHECKZ(23)
      CHECKZ(24) CHECKZ(25) CHECKZ(26) CHECKZ(27) CHECKZ(28) CHECKZ(29) CHECKZ(30) CHECKZ(31)
      "kmovw %%k1, %%eax\n cmp $0x5a, %%eax\n je 3f\n inc %[bad]\n 3:\n"
      "kmovw %%k2, %%eax\n cmp $0xa5, %%eax\n je 3f\n inc %[bad]\n 3:\n"
      "dec %%rcx\n jnz 1b\n"
      "vzeroupper\n"
      : [bad] "+r"(bad)
      : [q] "r"(pattern[16]), [iters] "r"(iters)
      : "rax", "rcx", "cc", "memory", "k1", "k2", "k3",
        "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23",
        "xmm24", "xmm25", "xmm26", "xmm27", "xmm28", "xmm29", "xmm30", "xmm31");
  return bad;
}

static long spin(long iters) {
  long bad = spin_avx(iters);
  if (has_avx512) bad += spin_avx512(iters / 4);
  return bad;
}

/* ---- threads ---- */

struct thread_info {
  pthread_t thread;
  pid_t tid;
  char name[16];
  void *altstack;
  long bad;
  int eintr;                                  /* nanosleeps that returned EINTR */
  int ready;
};
static struct thread_info threads[MAX_THREADS];
static int nthreads;
static int block_mode;

static void *thread_main(void *arg) {
  struct thread_info *t = arg;
  t->tid = (pid_t)syscall(SYS_gettid);
  prctl(PR_SET_NAME, t->name);
  stack_t ss = {.ss_sp = t->altstack, .ss_size = ALTSTACK_SIZE, .ss_flags = 0};
  if (sigaltstack(&ss, NULL) != 0) t->bad += 1000;
  sigset_t m;
  sigemptyset(&m);
  sigaddset(&m, SIGURG);                      /* a per-thread mask of its own */
  pthread_sigmask(SIG_BLOCK, &m, NULL);
  __atomic_store_n(&t->ready, 1, __ATOMIC_RELEASE);
  while (!__atomic_load_n(&stop_threads, __ATOMIC_ACQUIRE)) {
    t->bad += spin(20000);
    if (block_mode) {
      struct timespec ts = {0, 2000000};
      while (nanosleep(&ts, &ts) != 0) {
        if (errno != EINTR) {
          t->bad += 1000;
          break;
        }
        t->eintr++;
      }
    }
  }
  return NULL;
}

/* ---- signals ---- */

static void on_term(int sig, siginfo_t *si, void *ctx) {
  (void)sig, (void)si, (void)ctx;
  finish = 1;
  char c = 'x';
  ssize_t r = write(wake_pipe[1], &c, 1);
  (void)r;
}
static void on_other(int sig) { (void)sig; }

struct expected_action {
  int sig;
  struct sigaction sa;
};
static struct expected_action actions[8];
static int nactions;

static void set_action(int sig, void (*h)(int), void (*sa3)(int, siginfo_t *, void *), int flags, int m1, int m2) {
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  if (sa3 != NULL) sa.sa_sigaction = sa3;
  else sa.sa_handler = h;
  sa.sa_flags = flags;
  sigemptyset(&sa.sa_mask);
  if (m1) sigaddset(&sa.sa_mask, m1);
  if (m2) sigaddset(&sa.sa_mask, m2);
  if (sigaction(sig, &sa, NULL) != 0) {
    perror("sigaction");
    exit(2);
  }
  sigaction(sig, NULL, &actions[nactions].sa);
  actions[nactions++].sig = sig;
}

/* ---- the pattern ---- */

static uint32_t *mem;
static size_t mem_len;

static uint32_t pattern_word(size_t i) { return (uint32_t)(i * 2654435761u + 0x5eed1234u); }

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s MARKER [--threads N] [--mem MIB] [--mode spin|block]\n", argv[0]);
    return 2;
  }
  marker = argv[1];
  size_t mem_mib = 8;
  for (int i = 2; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--threads")) nthreads = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--mem")) mem_mib = strtoul(argv[i + 1], NULL, 10);
    else if (!strcmp(argv[i], "--mode")) block_mode = !strcmp(argv[i + 1], "block");
  }
  if (nthreads > MAX_THREADS) nthreads = MAX_THREADS;
  __builtin_cpu_init();
  has_avx512 = !!__builtin_cpu_supports("avx512f");
  if (!__builtin_cpu_supports("avx")) {
    fprintf(stderr, "parasite_target needs AVX\n");
    return 2;
  }
  for (int i = 0; i < 32; i++)
    for (int j = 0; j < 8; j++) pattern[i][j] = 0x0101010101010101ULL * (uint64_t)(i + 1) + (uint64_t)j * 0x1000003ULL;

  if (pipe(wake_pipe) != 0) return 2;

  /* Signals: handlers with flags and masks, one ignored, blocked ones, one pending. */
  set_action(SIGTERM, NULL, on_term, SA_SIGINFO | SA_RESTART | SA_ONSTACK, SIGUSR2, SIGWINCH);
  set_action(SIGUSR1, on_other, NULL, SA_RESTART, 0, 0);
  set_action(SIGUSR2, SIG_IGN, NULL, 0, 0, 0);
  set_action(SIGWINCH, on_other, NULL, SA_NODEFER | SA_RESETHAND, SIGINT, 0);
  set_action(SIGRTMIN + 5, on_other, NULL, SA_RESTART, SIGRTMIN + 6, 0);
  set_action(SIGVTALRM, on_other, NULL, SA_RESTART, 0, 0);
  set_action(SIGALRM, on_other, NULL, SA_RESTART, 0, 0);
  sigset_t blocked;
  sigemptyset(&blocked);
  sigaddset(&blocked, SIGHUP);
  sigaddset(&blocked, SIGRTMIN + 3);
  sigprocmask(SIG_BLOCK, &blocked, NULL);
  raise(SIGHUP);                              /* stays pending */
  sigset_t mask_before;
  sigprocmask(SIG_BLOCK, NULL, &mask_before);

  /* Per-task facts. */
  umask(027);
  static char main_altstack[ALTSTACK_SIZE];
  stack_t ss = {.ss_sp = main_altstack, .ss_size = ALTSTACK_SIZE, .ss_flags = 0};
  sigaltstack(&ss, NULL);
  prctl(PR_SET_NAME, "ptarget-main");
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  prctl(PR_SET_PDEATHSIG, SIGUSR2);           /* ignored: the driver's death costs nothing */
  prctl(PR_SET_TIMERSLACK, TIMERSLACK_NS);
  syscall(SYS_set_tid_address, &tid_word);
  personality(personality(0xffffffff) | ADDR_NO_RANDOMIZE);
  struct itimerval itv = {.it_interval = {500, 0}, .it_value = {1000, 0}};
  setitimer(ITIMER_REAL, &itv, NULL);
  struct itimerval itv2 = {.it_interval = {0, 0}, .it_value = {900, 250000}};
  setitimer(ITIMER_VIRTUAL, &itv2, NULL);
  struct sigevent sev = {.sigev_notify = SIGEV_NONE};
  timer_t timer;
  timer_create(CLOCK_MONOTONIC, &sev, &timer);
  struct itimerspec its = {.it_interval = {300, 0}, .it_value = {2000, 0}};
  timer_settime(timer, 0, &its, NULL);

  /* Memory with a known pattern. */
  mem_len = mem_mib << 20;
  mem = mmap(NULL, mem_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return 2;
  for (size_t i = 0; i < mem_len / 4; i++) mem[i] = pattern_word(i);

  /* Fds at known numbers. */
  int fds[6];
  int nul = open("/dev/null", O_RDONLY);
  int p[2];
  if (pipe(p) != 0) return 2;
  int mfd = memfd_create("ptarget-memfd", 0);
  int sp[2];
  socketpair(AF_UNIX, SOCK_STREAM, 0, sp);
  int src[6] = {nul, p[0], p[1], mfd, sp[0], sp[1]};
  struct stat st_before[6];
  for (int i = 0; i < 6; i++) {
    fds[i] = 20 + i;
    dup2(src[i], fds[i]);
    close(src[i]);
    fstat(fds[i], &st_before[i]);
  }

  char open_before[64];
  for (int fd = 0; fd < 64; fd++) open_before[fd] = fcntl(fd, F_GETFD) >= 0;

  for (int i = 0; i < nthreads; i++) {
    snprintf(threads[i].name, sizeof(threads[i].name), "ptarget-t%d", i);
    threads[i].altstack = malloc(ALTSTACK_SIZE);
    pthread_create(&threads[i].thread, NULL, thread_main, &threads[i]);
  }
  for (int i = 0; i < nthreads; i++)
    while (!__atomic_load_n(&threads[i].ready, __ATOMIC_ACQUIRE)) usleep(1000);

  printf("READY pid=%d mem=%#lx len=%zu tidaddr=%#lx altstack=%#lx:%d timer=%ld avx512=%d threads=", getpid(),
         (unsigned long)mem, mem_len, (unsigned long)&tid_word, (unsigned long)main_altstack, ALTSTACK_SIZE,
         (long)(intptr_t)timer, has_avx512);
  for (int i = 0; i < nthreads; i++) printf("%s%d:%#lx", i ? "," : "", threads[i].tid, (unsigned long)threads[i].altstack);
  printf("\n");
  fflush(stdout);
  const char *ready = getenv("READY_FILE");
  if (ready != NULL) {
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", ready);
    FILE *rf = fopen(tmp, "w");
    if (rf == NULL) return 2;
    fprintf(rf, "ready %d\n", getpid());
    fclose(rf);
    rename(tmp, ready);
  }

  /* Work until SIGTERM. */
  long bad = 0;
  if (block_mode) {
    char c;
    ssize_t r;
    do r = read(wake_pipe[0], &c, 1);
    while (r < 0 && errno == EINTR);
    if (r != 1) fail("read returned %zd errno %d", r, errno);
  } else {
    while (!finish) bad += spin(200000);
  }

  /* Verify. */
  if (bad) fail("main thread saw %ld register mismatches", bad);
  bad = spin(1000);
  if (bad) fail("registers wrong after the fact (%ld)", bad);
  __atomic_store_n(&stop_threads, 1, __ATOMIC_RELEASE);
  for (int i = 0; i < nthreads; i++) {
    pthread_join(threads[i].thread, NULL);
    if (threads[i].bad) fail("thread %d saw %ld register mismatches", i, threads[i].bad);
  }
  sigset_t now;
  sigprocmask(SIG_BLOCK, NULL, &now);
  for (int s = 1; s < 65; s++)
    if (sigismember(&now, s) != sigismember(&mask_before, s)) fail("signal %d blocked state changed", s);
  sigset_t pend;
  sigpending(&pend);
  if (!sigismember(&pend, SIGHUP)) fail("pending SIGHUP lost");
  for (int s = 1; s < 65; s++)
    if (sigismember(&pend, s) && s != SIGHUP) fail("signal %d pending", s);
  for (int i = 0; i < nactions; i++) {
    struct sigaction sa;
    sigaction(actions[i].sig, NULL, &sa);
    if (sa.sa_handler != actions[i].sa.sa_handler || sa.sa_flags != actions[i].sa.sa_flags ||
        memcmp(&sa.sa_mask, &actions[i].sa.sa_mask, 8) != 0)
      fail("sigaction of %d changed", actions[i].sig);
  }
  mode_t um = umask(0);
  umask(um);
  if (um != 027) fail("umask is %o", um);
  stack_t cur;
  sigaltstack(NULL, &cur);
  if (cur.ss_sp != main_altstack || cur.ss_size != ALTSTACK_SIZE || (cur.ss_flags & ~SS_ONSTACK) != 0)
    fail("sigaltstack changed (%p %zu %d)", cur.ss_sp, cur.ss_size, cur.ss_flags);
  for (size_t i = 0; i < mem_len / 4; i++)
    if (mem[i] != pattern_word(i)) {
      fail("memory differs at %zu", i * 4);
      break;
    }
  for (int i = 0; i < 6; i++) {
    struct stat st;
    if (fstat(fds[i], &st) != 0 || st.st_ino != st_before[i].st_ino || st.st_dev != st_before[i].st_dev)
      fail("fd %d changed", fds[i]);
  }
  for (int fd = 0; fd < 64; fd++)
    if ((fcntl(fd, F_GETFD) >= 0) != open_before[fd]) fail("fd %d %s", fd, open_before[fd] ? "closed" : "appeared");
  struct itimerval iv;
  getitimer(ITIMER_REAL, &iv);
  if (iv.it_value.tv_sec <= 0 || iv.it_value.tv_sec > 1000 || iv.it_interval.tv_sec != 500) fail("itimer changed");
  struct itimerspec is;
  timer_gettime(timer, &is);
  if (is.it_value.tv_sec <= 0 || is.it_interval.tv_sec != 300) fail("posix timer changed");
  char name[16] = {0};
  prctl(PR_GET_NAME, name);
  if (strcmp(name, "ptarget-main") != 0) fail("name is %s", name);
  if ((unsigned long)prctl(PR_GET_TIMERSLACK) != TIMERSLACK_NS) fail("timerslack changed");
  int v = 0;
  prctl(PR_GET_CHILD_SUBREAPER, &v);
  if (v != 1) fail("subreaper changed");
  if (!(personality(0xffffffff) & ADDR_NO_RANDOMIZE)) fail("personality changed");

  FILE *f = fopen(marker, "w");
  if (f == NULL) return 3;
  int eintr = 0;
  for (int i = 0; i < nthreads; i++) eintr += threads[i].eintr;
  if (failures[0]) fprintf(f, "FAIL %s\n", failures);
  else fprintf(f, "PASS eintr=%d\n", eintr);
  fclose(f);
  printf("%s\n", failures[0] ? "FAIL" : "PASS");
  return failures[0] ? 1 : 0;
}
