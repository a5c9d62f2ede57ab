/*
 * parasite_harness: a driver for the x86_64 parasite blob written in C, so that the blob can be
 * tested without the TypeScript ptrace core. It forks the target, seizes every thread, runs a few
 * remote system calls in the leader (memfd_create, mmap, close) to map one shared area, copies the
 * blob in, starts the daemon, and then runs the commands it reads on stdin, one per line, printing
 * one result line each. The sigframes come from the test (arch/x86_64/sigframe.ts): the harness
 * prints `frame-req TID ADDR REGS XSTATE MASK` (hex) and reads back `frame HEX`.
 *
 *   parasite_harness BLOB DAEMON_OFF THREAD_OFF SIGRETURN_OFF -- TARGET [ARGS...]
 *
 * The protocol numbers (P_*) come from a header the test generates from parasite/protocol.ts.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 32
#define PAGE 4096UL
#define ARGS_SIZE (256 * 1024UL)
#define STACK_SIZE (64 * 1024UL)
#define FRAME_SLOT (16 * 1024UL)
#define THREAD_ARGS 1024UL

struct thread {
  pid_t tid;
  struct user_regs_struct regs;               /* as seized */
  struct user_regs_struct fixed;              /* restart fixed up: what the frame holds */
  uint8_t xstate[16384];
  size_t xsize;
  uint64_t sigmask;
  unsigned long frame_off;
  unsigned long ctl_off;
};

static struct thread threads[MAX_THREADS];
static int nthreads;
static pid_t target;
static uint8_t *blob;
static size_t blob_size;
static unsigned long entry_daemon, entry_thread, entry_sigreturn;
static int listen_fd = -1, sock = -1;
static uint8_t *area;                         /* our mapping of the shared area */
static uint64_t remote;                       /* its address in the target */
static size_t area_size;
static unsigned long off_ctl, off_args, off_thread_args, off_stack, off_thread_stack, off_frames;
static int pipe_r = -1;
static unsigned stops, remote_calls;
static uint32_t seq;

static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  printf("error ");
  vprintf(fmt, ap);
  printf(" (errno %d)\n", errno);
  va_end(ap);
  fflush(stdout);
  exit(3);
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void put_hex(const void *p, size_t n) {
  const uint8_t *b = p;
  for (size_t i = 0; i < n; i++) printf("%02x", b[i]);
}

static size_t get_hex(const char *s, uint8_t *out, size_t max) {
  size_t n = 0;
  while (s[0] && s[1] && n < max && s[0] != '\n') {
    unsigned v;
    if (sscanf(s, "%2x", &v) != 1) break;
    out[n++] = (uint8_t)v;
    s += 2;
  }
  return n;
}

/* ---- ptrace ---- */

static int wait_stop(pid_t tid) {
  int st;
  if (waitpid(tid, &st, __WALL) != tid) die("waitpid %d", tid);
  if (!WIFSTOPPED(st)) die("task %d did not stop: status %#x", tid, st);
  stops++;
  return st;
}

static void get_regs(pid_t tid, struct user_regs_struct *r) {
  if (ptrace(PTRACE_GETREGS, tid, 0, r) != 0) die("GETREGS %d", tid);
}

static void set_regs(pid_t tid, const struct user_regs_struct *r) {
  if (ptrace(PTRACE_SETREGS, tid, 0, r) != 0) die("SETREGS %d", tid);
}

static void fixup_restart(struct user_regs_struct *r) {
  if ((long)r->orig_rax < 0) return;
  long ret = (long)r->rax;
  if (ret == -512 || ret == -513 || ret == -514) {
    r->rax = r->orig_rax;
    r->rip -= 2;
  } else if (ret == -516) {
    r->rax = (unsigned long)-EINTR;
  }
}

static void seize_all(void) {
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/task", target);
  DIR *d = opendir(path);
  if (d == NULL) die("opendir %s", path);
  struct dirent *e;
  nthreads = 0;
  /* The leader first. */
  threads[nthreads++].tid = target;
  while ((e = readdir(d)) != NULL) {
    int tid = atoi(e->d_name);
    if (tid > 0 && tid != target && nthreads < MAX_THREADS) threads[nthreads++].tid = tid;
  }
  closedir(d);
  for (int i = 0; i < nthreads; i++)
    if (ptrace(PTRACE_SEIZE, threads[i].tid, 0, PTRACE_O_TRACESYSGOOD) != 0) die("SEIZE %d", threads[i].tid);
  for (int i = 0; i < nthreads; i++)
    if (ptrace(PTRACE_INTERRUPT, threads[i].tid, 0, 0) != 0) die("INTERRUPT %d", threads[i].tid);
  for (int i = 0; i < nthreads; i++) {
    struct thread *t = &threads[i];
    int st = wait_stop(t->tid);
    if ((st >> 16) != PTRACE_EVENT_STOP) die("task %d stopped with %#x, not an interrupt", t->tid, st);
    get_regs(t->tid, &t->regs);
    t->fixed = t->regs;
    fixup_restart(&t->fixed);
    struct iovec iov = {t->xstate, sizeof(t->xstate)};
    if (ptrace(PTRACE_GETREGSET, t->tid, NT_X86_XSTATE, &iov) != 0) die("GETREGSET xstate %d", t->tid);
    t->xsize = iov.iov_len;
    if (ptrace(PTRACE_GETSIGMASK, t->tid, 8, &t->sigmask) != 0) die("GETSIGMASK %d", t->tid);
  }
  printf("seized n=%d", nthreads);
  for (int i = 0; i < nthreads; i++)
    printf(" %d:%#llx:%lld:%#lx", threads[i].tid, threads[i].regs.orig_rax, (long long)threads[i].regs.rax, (unsigned long)threads[i].sigmask);
  printf("\n");
}

/*
 * Runs one system call in the leader: `syscall; int3` written at its rip, registers set, CONT,
 * wait for the trap; puts the bytes and the registers back. `data` (up to 64 bytes) is copied
 * below the stack first and its address passed as the first argument when `data_arg` is set.
 */
static long remote_syscall(long nr, const unsigned long args[6], const char *data, size_t data_len) {
  struct thread *t = &threads[0];
  struct user_regs_struct saved, r;
  get_regs(t->tid, &saved);
  unsigned long site = saved.rip;
  errno = 0;
  long code = ptrace(PTRACE_PEEKDATA, t->tid, site, 0);
  if (errno) die("PEEKDATA");
  long patched = (code & ~0xffffffL) | 0xcc050fL;     /* 0f 05 cc */
  if (ptrace(PTRACE_POKEDATA, t->tid, site, patched) != 0) die("POKEDATA code");
  unsigned long data_at = (saved.rsp - 1024) & ~15UL;
  long stack_words[8];
  size_t words = (data_len + 7) / 8;
  for (size_t i = 0; i < words; i++) {
    errno = 0;
    stack_words[i] = ptrace(PTRACE_PEEKDATA, t->tid, data_at + 8 * i, 0);
    if (errno) die("PEEKDATA stack");
    long w = 0;
    memcpy(&w, data + 8 * i, data_len - 8 * i < 8 ? data_len - 8 * i : 8);
    if (ptrace(PTRACE_POKEDATA, t->tid, data_at + 8 * i, w) != 0) die("POKEDATA stack");
  }
  r = saved;
  r.rip = site;
  r.rax = nr;
  r.orig_rax = -1;
  r.rdi = data_len ? data_at : args[0];
  r.rsi = args[1];
  r.rdx = args[2];
  r.r10 = args[3];
  r.r8 = args[4];
  r.r9 = args[5];
  set_regs(t->tid, &r);
  if (ptrace(PTRACE_CONT, t->tid, 0, 0) != 0) die("CONT");
  int st = wait_stop(t->tid);
  if (WSTOPSIG(st) != SIGTRAP) die("remote syscall %ld stopped with %#x", nr, st);
  get_regs(t->tid, &r);
  if (r.rip != site + 3) die("remote syscall %ld trapped at %#llx, not %#lx", nr, r.rip, site + 3);
  for (size_t i = 0; i < words; i++) ptrace(PTRACE_POKEDATA, t->tid, data_at + 8 * i, stack_words[i]);
  if (ptrace(PTRACE_POKEDATA, t->tid, site, code) != 0) die("POKEDATA restore");
  set_regs(t->tid, &saved);
  remote_calls++;
  return (long)r.rax;
}

/* ---- the shared area ---- */

static void put_u32(unsigned long off, uint32_t v) { memcpy(area + off, &v, 4); }
static void put_u64(unsigned long off, uint64_t v) { memcpy(area + off, &v, 8); }
static uint32_t get_u32(unsigned long off) { uint32_t v; memcpy(&v, area + off, 4); return v; }

static void write_ctl(unsigned long off, struct thread *t, unsigned long args, unsigned long args_size) {
  memset(area + off, 0, P_CTL_SIZE);
  put_u32(off + P_CTL_MAGIC, P_MAGIC);
  put_u32(off + P_CTL_VERSION, P_VERSION);
  put_u64(off + P_CTL_SIGRETURN_SP, remote + t->frame_off + 8);
  put_u64(off + P_CTL_ARGS, remote + args);
  put_u64(off + P_CTL_ARGS_SIZE, args_size);
  put_u32(off + P_CTL_SOCK_FD, (uint32_t)-1);
}

static void request_frame(struct thread *t) {
  printf("frame-req %d %#lx ", t->tid, (unsigned long)(remote + t->frame_off));
  put_hex(&t->fixed, sizeof(t->fixed));
  printf(" ");
  put_hex(t->xstate, t->xsize);
  printf(" %lx\n", (unsigned long)t->sigmask);
  fflush(stdout);
  static char line[1 << 16];
  if (fgets(line, sizeof(line), stdin) == NULL || strncmp(line, "frame ", 6) != 0) die("no frame for %d", t->tid);
  size_t n = get_hex(line + 6, area + t->frame_off, FRAME_SLOT);
  if (n < 512) die("frame for %d is %zu bytes", t->tid, n);
}

/* Maps the shared area in the leader (memfd_create, mmap, close) and copies the blob and frames in. */
static void map_area(void) {
  static const char name[] = "criu-ts-parasite";
  long fd = remote_syscall(SYS_memfd_create, (unsigned long[6]){0, MFD_CLOEXEC}, name, sizeof(name));
  if (fd < 0) die("remote memfd_create: %ld", fd);
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/fd/%ld", target, fd);
  int local = open(path, O_RDWR);
  if (local < 0) die("open %s", path);
  off_ctl = (blob_size + PAGE - 1) & ~(PAGE - 1);
  off_args = off_ctl + PAGE;
  off_thread_args = off_args + ARGS_SIZE;
  off_stack = off_thread_args + MAX_THREADS * THREAD_ARGS;
  off_thread_stack = off_stack + STACK_SIZE;
  off_frames = off_thread_stack + STACK_SIZE;
  area_size = off_frames + MAX_THREADS * FRAME_SLOT;
  if (ftruncate(local, area_size) != 0) die("ftruncate");
  area = mmap(NULL, area_size, PROT_READ | PROT_WRITE, MAP_SHARED, local, 0);
  if (area == MAP_FAILED) die("mmap local");
  long addr = remote_syscall(SYS_mmap, (unsigned long[6]){0, area_size, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_SHARED, fd, 0}, NULL, 0);
  if (addr < 0 && addr > -4096) die("remote mmap: %ld", addr);
  remote = addr;
  long rc = remote_syscall(SYS_close, (unsigned long[6]){fd}, NULL, 0);
  if (rc != 0) die("remote close: %ld", rc);
  close(local);
  memcpy(area, blob, blob_size);
  for (int i = 0; i < nthreads; i++) {
    threads[i].frame_off = off_frames + i * FRAME_SLOT;
    threads[i].ctl_off = off_ctl + i * P_CTL_SIZE;
    request_frame(&threads[i]);
  }
}

/*
 * Writes the daemon's control block (the leader's, with the socket address) and starts the daemon
 * entry in the leader with every signal blocked. `variant` spoils one thing on purpose: "badmagic"
 * (a control block of another protocol), "badaddr" (nobody listens at the address).
 */
static void start_daemon(const char *sun_path, const char *variant) {
  struct thread *t = &threads[0];
  write_ctl(t->ctl_off, t, off_args, ARGS_SIZE);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  char name[108];
  snprintf(name, sizeof(name), "%s%s", sun_path, !strcmp(variant, "badaddr") ? "-nobody" : "");
  size_t plen = strlen(name);
  memcpy(sa.sun_path + 1, name, plen);       /* abstract: leading NUL */
  uint32_t alen = offsetof(struct sockaddr_un, sun_path) + 1 + plen;
  memcpy(area + t->ctl_off + P_CTL_ADDR, &sa, alen);
  put_u32(t->ctl_off + P_CTL_ADDR_LEN, alen);
  if (!strcmp(variant, "badmagic")) put_u32(t->ctl_off + P_CTL_VERSION, P_VERSION + 1);
  struct user_regs_struct r = t->regs;
  r.rip = remote + entry_daemon;
  r.rsp = remote + off_stack + STACK_SIZE;
  r.rdi = remote + t->ctl_off;
  r.orig_rax = -1;
  set_regs(t->tid, &r);
  uint64_t all = ~0ULL;
  if (ptrace(PTRACE_SETSIGMASK, t->tid, 8, &all) != 0) die("SETSIGMASK");
}

static void run_to_sigreturn(struct thread *t, unsigned *count);
static void print_regs_check(struct thread *t);

static void infect(const char *sun_path) {
  struct thread *t = &threads[0];
  map_area();
  start_daemon(sun_path, "");
  if (ptrace(PTRACE_CONT, t->tid, 0, 0) != 0) die("CONT daemon");
  /* Accept, watching for a fault of the parasite. */
  double deadline = now() + 10;
  for (;;) {
    struct pollfd p = {listen_fd, POLLIN, 0};
    if (poll(&p, 1, 50) == 1) break;
    int st;
    if (waitpid(t->tid, &st, __WALL | WNOHANG) == t->tid) {
      struct user_regs_struct fr;
      get_regs(t->tid, &fr);
      die("parasite stopped before connecting: status %#x rip %#llx (blob +%#llx)", st, fr.rip, fr.rip - remote);
    }
    if (now() > deadline) die("parasite did not connect");
  }
  sock = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
  if (sock < 0) die("accept");
  struct ucred cred;
  socklen_t cl = sizeof(cred);
  getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &cl);
  printf("infected area=%#lx size=%zu blob=%zu remote_syscalls=%u stops=%u peer=%d sock_fd=%d\n", (unsigned long)remote, area_size, blob_size,
         remote_calls, stops, cred.pid, (int)get_u32(t->ctl_off + P_CTL_SOCK_FD));
}

/* Starts a spoiled daemon and follows it to its rt_sigreturn: it must leave at once, unharmed. */
static void probe_exit(const char *sun_path, const char *variant) {
  struct thread *t = &threads[0];
  if (area == NULL) map_area();
  start_daemon(sun_path, variant);
  unsigned count = 0;
  run_to_sigreturn(t, &count);
  printf("exited variant=%s stops=%u state=%u error=%d sock_fd=%d", variant, count, get_u32(t->ctl_off + P_CTL_STATE), (int)get_u32(t->ctl_off + P_CTL_ERROR),
         (int)get_u32(t->ctl_off + P_CTL_SOCK_FD));
  print_regs_check(t);
  printf("\n");
}

/* ---- the control channel ---- */

static void send_cmd(uint8_t msg[P_MSG_SIZE], const int *fds, int nfds) {
  struct iovec iov = {msg, P_MSG_SIZE};
  union {
    char buf[CMSG_SPACE(sizeof(int) * 4)];
    struct cmsghdr align;
  } u;
  struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
  if (nfds > 0) {
    mh.msg_control = u.buf;
    mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
  }
  if (sendmsg(sock, &mh, MSG_NOSIGNAL) != P_MSG_SIZE) die("sendmsg");
}

static void new_msg(uint8_t msg[P_MSG_SIZE], uint32_t cmd) {
  memset(msg, 0, P_MSG_SIZE);
  memcpy(msg + P_MSG_CMD, &cmd, 4);
  seq++;
  memcpy(msg + P_MSG_SEQ, &seq, 4);
}

/* Receives one reply (and up to 253 fds); dies if the parasite faults or goes quiet. */
static int recv_reply(uint8_t msg[P_MSG_SIZE], int *fds) {
  double deadline = now() + 20;
  for (;;) {
    struct pollfd p = {sock, POLLIN, 0};
    if (poll(&p, 1, 50) == 1) break;
    int st;
    if (waitpid(target, &st, __WALL | WNOHANG) == target) die("parasite stopped: status %#x", st);
    if (now() > deadline) die("no reply");
  }
  struct iovec iov = {msg, P_MSG_SIZE};
  static char control[CMSG_SPACE(sizeof(int) * 253)];
  struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof(control)};
  ssize_t n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
  if (n != P_MSG_SIZE) die("recvmsg returned %zd", n);
  int nfds = 0;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      int k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      memcpy(fds + nfds, CMSG_DATA(c), sizeof(int) * k);
      nfds += k;
    }
  }
  uint32_t expect = seq, got;
  memcpy(&got, msg + P_MSG_SEQ, 4);
  if (got != expect) die("reply seq %u, expected %u", got, expect);
  return nfds;
}

#define M32(m, off) (*(int32_t *)((m) + (off)))
#define MU32(m, off) (*(uint32_t *)((m) + (off)))
#define M64(m, off) (*(uint64_t *)((m) + (off)))

static int parse_ranges(const char *s, unsigned long off) {
  int n = 0;
  while (*s && *s != '\n') {
    unsigned long a, l;
    int used;
    if (sscanf(s, "%lx:%lx%n", &a, &l, &used) != 2) die("bad range list");
    put_u64(off + n * 16, a);
    put_u64(off + n * 16 + 8, l);
    n++;
    s += used;
    if (*s == ',') s++;
  }
  return n;
}

static void cmd_memory(char *args, int stall) {
  char out[512];
  unsigned long batch, pipesize;
  int used;
  if (sscanf(args, "%511s %lu %lu %n", out, &batch, &pipesize, &used) != 3) die("usage: memory FILE BATCH PIPESIZE RANGES");
  int nr = parse_ranges(args + used, off_args);
  int ofd = -1;
  if (!stall && (ofd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0) die("open %s", out);
  uint8_t msg[P_MSG_SIZE];
  new_msg(msg, P_CMD_MEMORY);
  MU32(msg, P_MSG_NR) = nr;
  M64(msg, P_MSG_A0) = batch;
  int fds[2], nfds = 0;
  if (pipe_r < 0) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) die("pipe2");
    if (fcntl(p[1], F_SETPIPE_SZ, (int)pipesize) < 0) die("F_SETPIPE_SZ");
    fds[0] = p[1];
    fds[1] = p[0];
    nfds = 2;
    pipe_r = p[0];
  }
  double t0 = now();
  send_cmd(msg, fds, nfds);
  if (nfds) close(fds[0]);                  /* the parasite holds the write end now */
  unsigned replies = 0;
  unsigned long spliced = 0;
  int rfds[256];
  for (;;) {
    recv_reply(msg, rfds);
    replies++;
    if (stall) {
      printf("stalled replies=%u flags=%u\n", replies, MU32(msg, P_MSG_FLAGS));
      return;
    }
    unsigned long want = M64(msg, P_MSG_A0);
    while (want > 0) {
      ssize_t n = splice(pipe_r, NULL, ofd, NULL, want, SPLICE_F_MOVE);
      if (n <= 0) die("splice");
      want -= n;
      spliced += n;
    }
    if (!(MU32(msg, P_MSG_FLAGS) & P_MSG_F_MORE)) break;
  }
  double dt = now() - t0;
  close(ofd);
  printf("memory status=%d index=%d nr=%u bytes=%lu spliced=%lu replies=%u a2=%#lx seconds=%.6f\n", M32(msg, P_MSG_STATUS), M32(msg, P_MSG_INDEX),
         MU32(msg, P_MSG_NR), (unsigned long)M64(msg, P_MSG_A1), spliced, replies, (unsigned long)M64(msg, P_MSG_A2), dt);
}

/* process_vm_readv of the same ranges into page-aligned memory, then write() to a file. */
static void cmd_pvr(char *args) {
  char out[512];
  int used;
  if (sscanf(args, "%511s %n", out, &used) != 1) die("usage: pvr FILE RANGES");
  static uint8_t ranges[4096];
  int nr = 0;
  unsigned long total = 0;
  for (const char *s = args + used; *s && *s != '\n';) {
    unsigned long a, l;
    int u;
    if (sscanf(s, "%lx:%lx%n", &a, &l, &u) != 2) die("bad range list");
    memcpy(ranges + nr * 16, &a, 8);
    memcpy(ranges + nr * 16 + 8, &l, 8);
    total += l;
    nr++;
    s += u;
    if (*s == ',') s++;
  }
  uint8_t *buf = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (buf == MAP_FAILED) die("mmap");
  double t0 = now();
  unsigned long at = 0;
  for (int i = 0; i < nr; i++) {
    struct iovec liov, riov;
    memcpy(&riov.iov_base, ranges + i * 16, 8);
    memcpy(&riov.iov_len, ranges + i * 16 + 8, 8);
    liov.iov_base = buf + at;
    liov.iov_len = riov.iov_len;
    if (process_vm_readv(target, &liov, 1, &riov, 1, 0) != (ssize_t)riov.iov_len) die("process_vm_readv");
    at += riov.iov_len;
  }
  double t1 = now();
  int ofd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  for (unsigned long w = 0; w < total;) {
    ssize_t n = write(ofd, buf + w, total - w);
    if (n <= 0) die("write");
    w += n;
  }
  double t2 = now();
  close(ofd);
  munmap(buf, total);
  printf("pvr bytes=%lu read_seconds=%.6f write_seconds=%.6f\n", total, t1 - t0, t2 - t1);
}

static void cmd_fds(char *args) {
  int n = 0;
  for (char *s = args; *s && *s != '\n';) {
    char *end;
    long fd = strtol(s, &end, 10);
    if (end == s) break;
    put_u32(off_args + 4 * n++, (uint32_t)fd);
    s = end;
    if (*s == ',') s++;
  }
  uint8_t msg[P_MSG_SIZE];
  new_msg(msg, P_CMD_FDS);
  MU32(msg, P_MSG_NR) = n;
  send_cmd(msg, NULL, 0);
  int got[256], batches = 0, total = 0;
  printf("fds");
  for (;;) {
    int k = recv_reply(msg, got);
    batches++;
    for (int i = 0; i < k; i++) {
      char path[64], link[512];
      snprintf(path, sizeof(path), "/proc/self/fd/%d", got[i]);
      ssize_t l = readlink(path, link, sizeof(link) - 1);
      link[l < 0 ? 0 : l] = 0;
      printf(" %u=%s", MU32(area + off_args, 4 * (MU32(msg, P_MSG_INDEX) + i)), link);
      close(got[i]);
    }
    total += k;
    if (!(MU32(msg, P_MSG_FLAGS) & P_MSG_F_MORE)) break;
  }
  printf(" status=%d index=%d batches=%d received=%d\n", M32(msg, P_MSG_STATUS), M32(msg, P_MSG_INDEX), batches, total);
}

static void cmd_simple(uint32_t cmd, uint32_t flags, char *args, size_t data_len, const char *label) {
  uint8_t msg[P_MSG_SIZE];
  new_msg(msg, cmd);
  MU32(msg, P_MSG_FLAGS) = flags;
  if (cmd == P_CMD_MISC) {
    int n = 0;
    for (char *s = args; s && *s && *s != '\n';) {
      char *end;
      long id = strtol(s, &end, 10);
      if (end == s) break;
      memset(area + off_args + P_MISC_SIZE + n * P_TIMER_SIZE, 0, P_TIMER_SIZE);
      put_u32(off_args + P_MISC_SIZE + n * P_TIMER_SIZE + P_TIMER_ID, (uint32_t)id);
      n++;
      s = end;
      if (*s == ',') s++;
    }
    MU32(msg, P_MSG_NR) = n;
    data_len = P_MISC_SIZE + n * P_TIMER_SIZE;
  } else if (cmd == P_CMD_PING) {
    M64(msg, P_MSG_A0) = 0x1122334455667788ULL;
    M64(msg, P_MSG_A4) = 0xa4a4a4a4a4a4a4a4ULL;   /* a4 */
  }
  send_cmd(msg, NULL, 0);
  int fds[256];
  recv_reply(msg, fds);
  printf("%s status=%d index=%d nr=%u flags=%u a0=%#lx a4=%#lx data=", label, M32(msg, P_MSG_STATUS), M32(msg, P_MSG_INDEX), MU32(msg, P_MSG_NR),
         MU32(msg, P_MSG_FLAGS), (unsigned long)M64(msg, P_MSG_A0), (unsigned long)M64(msg, P_MSG_A4));
  put_hex(area + off_args, data_len);
  printf("\n");
}

/* Compares a task's registers now with what its frame holds. */
static void print_regs_check(struct thread *t) {
  struct user_regs_struct r;
  get_regs(t->tid, &r);
  const unsigned long long *a = (const void *)&r, *b = (const void *)&t->fixed;
  static const char *names[] = {"r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8", "rax", "rcx", "rdx", "rsi",
                                "rdi", "orig_rax", "rip", "cs", "eflags", "rsp", "ss", "fs_base", "gs_base", "ds", "es", "fs", "gs"};
  int diffs = 0;
  printf(" regs=");
  for (size_t i = 0; i < sizeof(r) / 8; i++) {
    if (!strcmp(names[i], "orig_rax")) continue;   /* rt_sigreturn leaves -1 */
    if (a[i] != b[i]) printf("%s%s:%#llx/%#llx", diffs++ ? "," : "", names[i], a[i], b[i]);
  }
  if (!diffs) printf("ok");
  uint8_t xs[16384];
  struct iovec iov = {xs, sizeof(xs)};
  ptrace(PTRACE_GETREGSET, t->tid, NT_X86_XSTATE, &iov);
  long at = -1;
  for (size_t i = 0; i < iov.iov_len && i < t->xsize; i++) {
    if (i >= 464 && i < 520) continue;          /* software bytes and XSTATE_BV */
    if (xs[i] != t->xstate[i]) {
      at = i;
      break;
    }
  }
  uint64_t mask;
  ptrace(PTRACE_GETSIGMASK, t->tid, 8, &mask);
  printf(" xstate=%s", at < 0 && iov.iov_len == t->xsize ? "same" : "diff");
  if (at >= 0) printf("@%ld", at);
  printf(" sigmask=%s", mask == t->sigmask ? "same" : "diff");
}

/* Resumes with PTRACE_SYSCALL until the rt_sigreturn of the blob has run; counts the stops. */
static void run_to_sigreturn(struct thread *t, unsigned *count) {
  int entered = 0;
  for (;;) {
    if (ptrace(PTRACE_SYSCALL, t->tid, 0, 0) != 0) die("PTRACE_SYSCALL");
    int st = wait_stop(t->tid);
    (*count)++;
    if (WSTOPSIG(st) != (SIGTRAP | 0x80)) {
      struct user_regs_struct r;
      get_regs(t->tid, &r);
      die("task %d stopped with %#x at %#llx (blob +%#llx) instead of a syscall", t->tid, st, r.rip, r.rip - remote);
    }
    struct __ptrace_syscall_info info;
    if (ptrace(PTRACE_GET_SYSCALL_INFO, t->tid, sizeof(info), &info) <= 0) die("GET_SYSCALL_INFO");
    if (entered) {
      if (info.op != PTRACE_SYSCALL_INFO_EXIT) die("expected the exit of rt_sigreturn");
      return;
    }
    if (info.op == PTRACE_SYSCALL_INFO_ENTRY && info.entry.nr == SYS_rt_sigreturn &&
        info.instruction_pointer == remote + entry_sigreturn + 2)
      entered = 1;
  }
}

static void cmd_thread(char *args) {
  int tid = atoi(args);
  struct thread *t = NULL;
  int k = 0;
  for (k = 1; k < nthreads; k++)
    if (threads[k].tid == tid) {
      t = &threads[k];
      break;
    }
  if (t == NULL) die("no thread %d", tid);
  unsigned long args_off = off_thread_args + k * THREAD_ARGS;
  write_ctl(t->ctl_off, t, args_off, THREAD_ARGS);
  uint8_t *m = area + t->ctl_off + P_CTL_MSG;
  MU32(m, P_MSG_CMD) = P_CMD_MISC;
  MU32(m, P_MSG_FLAGS) = P_MISC_F_THREAD;
  MU32(m, P_MSG_SEQ) = 77;
  struct user_regs_struct r = t->regs;
  r.rip = remote + entry_thread;
  r.rsp = remote + off_thread_stack + STACK_SIZE;
  r.rdi = remote + t->ctl_off;
  r.orig_rax = -1;
  set_regs(t->tid, &r);
  uint64_t all = ~0ULL;
  if (ptrace(PTRACE_SETSIGMASK, t->tid, 8, &all) != 0) die("SETSIGMASK");
  unsigned count = 0;
  run_to_sigreturn(t, &count);
  printf("thread tid=%d status=%d seq=%u state=%u error=%d stops=%u", tid, M32(m, P_MSG_STATUS), MU32(m, P_MSG_SEQ), get_u32(t->ctl_off + P_CTL_STATE),
         (int)get_u32(t->ctl_off + P_CTL_ERROR), count);
  print_regs_check(t);
  printf(" data=");
  put_hex(area + args_off, P_MISC_SIZE);
  printf("\n");
}

static void cmd_fini(void) {
  struct thread *t = &threads[0];
  if (ptrace(PTRACE_INTERRUPT, t->tid, 0, 0) != 0) die("INTERRUPT");
  wait_stop(t->tid);
  uint8_t msg[P_MSG_SIZE];
  new_msg(msg, P_CMD_FINI);
  send_cmd(msg, NULL, 0);
  unsigned count = 0;
  run_to_sigreturn(t, &count);
  printf("fini stops=%u state=%u error=%d", count, get_u32(t->ctl_off + P_CTL_STATE), (int)get_u32(t->ctl_off + P_CTL_ERROR));
  print_regs_check(t);
  printf("\n");
}

static void cmd_cure(void) {
  unsigned before = remote_calls;
  long rc = remote_syscall(SYS_munmap, (unsigned long[6]){remote, area_size}, NULL, 0);
  if (rc != 0) die("remote munmap: %ld", rc);
  munmap(area, area_size);
  for (int i = 0; i < nthreads; i++)
    if (ptrace(PTRACE_DETACH, threads[i].tid, 0, 0) != 0) die("DETACH %d", threads[i].tid);
  close(sock);
  printf("cured remote_syscalls=%u stops=%u\n", remote_calls - before, stops);
}

int main(int argc, char **argv) {
  alarm(120);
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc < 7 || strcmp(argv[5], "--") != 0) {
    fprintf(stderr, "usage: %s BLOB DAEMON THREAD SIGRETURN -- TARGET [ARGS...]\n", argv[0]);
    return 2;
  }
  int bfd = open(argv[1], O_RDONLY);
  struct stat st;
  if (bfd < 0 || fstat(bfd, &st) != 0) die("open %s", argv[1]);
  blob_size = st.st_size;
  blob = malloc(blob_size);
  if (read(bfd, blob, blob_size) != (ssize_t)blob_size) die("read blob");
  close(bfd);
  entry_daemon = strtoul(argv[2], NULL, 0);
  entry_thread = strtoul(argv[3], NULL, 0);
  entry_sigreturn = strtoul(argv[4], NULL, 0);

  char sun_path[64];
  snprintf(sun_path, sizeof(sun_path), "criu-ts-parasite-%d", getpid());
  listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  memcpy(sa.sun_path + 1, sun_path, strlen(sun_path));
  if (bind(listen_fd, (struct sockaddr *)&sa, offsetof(struct sockaddr_un, sun_path) + 1 + strlen(sun_path)) != 0) die("bind");
  if (listen(listen_fd, 1) != 0) die("listen");

  int out[2];
  if (pipe(out) != 0) die("pipe");
  target = fork();
  if (target == 0) {
    dup2(out[1], 1);
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    dup2(devnull, 2);
    for (int fd = 3; fd < 1024; fd++) close(fd);
    execv(argv[6], argv + 6);
    _exit(127);
  }
  close(out[1]);
  FILE *tout = fdopen(out[0], "r");
  char line[4096];
  if (fgets(line, sizeof(line), tout) == NULL || strncmp(line, "READY ", 6) != 0) die("target did not get ready");
  printf("target %d %s", target, line + 6);

  while (fgets(line, sizeof(line), stdin) != NULL) {
    char *arg = strchr(line, ' ');
    arg = arg ? arg + 1 : line + strlen(line);
    if (!strncmp(line, "seize", 5)) seize_all();
    else if (!strncmp(line, "infect", 6)) infect(sun_path);
    else if (!strncmp(line, "probe-exit", 10)) probe_exit(sun_path, strtok(arg, " \n"));
    else if (!strncmp(line, "ping", 4)) cmd_simple(P_CMD_PING, 0, NULL, 0, "ping");
    else if (!strncmp(line, "sigactions", 10)) cmd_simple(P_CMD_SIGACTIONS, 0, NULL, P_SIGACTIONS_SIZE, "sigactions");
    else if (!strncmp(line, "misc", 4)) cmd_simple(P_CMD_MISC, 0, arg, 0, "misc");
    else if (!strncmp(line, "raw", 3)) cmd_simple((uint32_t)atoi(arg), 0, NULL, 0, "raw");
    else if (!strncmp(line, "fds", 3)) cmd_fds(arg);
    else if (!strncmp(line, "memory-stall", 12)) cmd_memory(arg, 1);
    else if (!strncmp(line, "memory", 6)) cmd_memory(arg, 0);
    else if (!strncmp(line, "pvr", 3)) cmd_pvr(arg);
    else if (!strncmp(line, "thread", 6)) cmd_thread(arg);
    else if (!strncmp(line, "fini", 4)) cmd_fini();
    else if (!strncmp(line, "cure", 4)) cmd_cure();
    else if (!strncmp(line, "wait-exit", 9)) {
      int ws;
      if (waitpid(target, &ws, 0) != target) die("waitpid target");
      printf("exit code=%d signal=%d\n", WIFEXITED(ws) ? WEXITSTATUS(ws) : -1, WIFSIGNALED(ws) ? WTERMSIG(ws) : 0);
    } else if (!strncmp(line, "quit", 4)) break;
    else die("unknown command %s", line);
  }
  return 0;
}
