/*
 * security_probe: tries, from inside a container, each thing a default container must not
 * be able to do, in ways that change nothing on the host even when they succeed, and
 * prints one line per attempt: "<name> ok" or "<name> <ERRNO NAME>" (or a word for the
 * checks that are not a syscall). tests/security_test.ts runs it under ctr and podman.
 *
 *   mount      mount a tmpfs on a fresh directory (then unmount it)
 *   module     init_module with a 16-byte non-ELF image (ENOEXEC when permitted; ENOSYS
 *              on a kernel without modules, which is this one)
 *   reboot     reboot(LINUX_REBOOT_CMD_CAD_OFF): EINVAL in a child pid namespace when
 *              permitted (the kernel never passes it on to the host)
 *   clock      adjtimex setting the tick to its current value
 *   raw        socket(AF_INET, SOCK_RAW, IPPROTO_ICMP)
 *   kcore      open /proc/kcore for reading ("absent" when the kernel has none)
 *   procsys    write /proc/sys/kernel/domainname (the container's own UTS value) back
 *   unshare    unshare(CLONE_NEWUTS)
 *   keyctl     keyctl(KEYCTL_GET_KEYRING_ID, session keyring, create=0)
 *   ptrace     PTRACE_ATTACH to PID 1 (another process: our parent shell), then detach
 *   mknod      mknod of a block device (7:0) in /tmp (then unlink)
 *   hostpids   "visible" when /proc/2 is the host's kthreadd (then nothing else is tried:
 *              the probe refuses to run outside a container), else "hidden"
 *
 * Built statically by the test with gcc.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/timex.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/reboot.h>

static void report(const char *name, long r) {
  if (r >= 0) printf("%s ok\n", name);
  else printf("%s %s\n", name, strerrorname_np(errno) ? strerrorname_np(errno) : "E?");
}

/* Whether /proc/2 is the host's kthreadd: then we are not in a container's pid namespace. */
static int host_pids_visible(void) {
  char comm[64] = {0};
  int fd = open("/proc/2/comm", O_RDONLY);
  if (fd < 0) return 0;
  long n = read(fd, comm, sizeof comm - 1);
  close(fd);
  return n >= 8 && strncmp(comm, "kthreadd", 8) == 0;
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  long r;
  /* Never on the host: some attempts succeed there (reboot CAD_OFF, ptrace of init). */
  if (host_pids_visible()) {
    printf("hostpids visible\n");
    return 3;
  }

  mkdir("/tmp/probe-mnt", 0700);
  r = mount("probe", "/tmp/probe-mnt", "tmpfs", 0, "size=4k");
  report("mount", r);
  if (r == 0) umount("/tmp/probe-mnt");

  static const char not_elf[16] = "not a module";
  r = syscall(SYS_init_module, not_elf, sizeof not_elf, "");
  /* ENOEXEC: the image was read and refused; ENOSYS: a kernel without module support —
     either way the call got past every permission check. */
  report("module", r < 0 && (errno == ENOEXEC || errno == ENOSYS) ? 0 : r);

  r = syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, LINUX_REBOOT_CMD_CAD_OFF, NULL);
  report("reboot", r < 0 && errno == EINVAL ? 0 : r);

  struct timex tx = {0};
  r = adjtimex(&tx);
  if (r >= 0) {
    long tick = tx.tick;
    memset(&tx, 0, sizeof tx);
    tx.modes = ADJ_TICK;
    tx.tick = tick;
    r = adjtimex(&tx);
  }
  report("clock", r);

  r = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
  report("raw", r);
  if (r >= 0) close((int)r);

  r = open("/proc/kcore", O_RDONLY);
  if (r < 0 && errno == ENOENT) printf("kcore absent\n");
  else {
    if (r >= 0) {
      char b[1];
      /* A masked /proc/kcore is /dev/null: opened, but empty. */
      long n = read((int)r, b, 1);
      close((int)r);
      if (n == 0) printf("kcore empty\n");
      else report("kcore", n);
    } else report("kcore", r);
  }

  char dn[256] = {0};
  int fd = open("/proc/sys/kernel/domainname", O_RDONLY);
  if (fd >= 0) {
    long n = read(fd, dn, sizeof dn - 1);
    if (n < 0) n = 0;
    dn[n] = 0;
    close(fd);
  }
  fd = open("/proc/sys/kernel/domainname", O_WRONLY);
  if (fd < 0) report("procsys", fd);
  else {
    report("procsys", write(fd, dn, strlen(dn)));
    close(fd);
  }

  r = unshare(CLONE_NEWUTS);
  report("unshare", r);

  r = syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3 /* KEY_SPEC_SESSION_KEYRING */, 0);
  report("keyctl", r < 0 && errno == ENOKEY ? 0 : r);

  r = ptrace(PTRACE_ATTACH, 1, NULL, NULL);
  report("ptrace", r);
  if (r == 0) {
    waitpid(1, NULL, __WALL);
    ptrace(PTRACE_DETACH, 1, NULL, NULL);
  }

  r = mknod("/tmp/probe-blk", S_IFBLK | 0600, makedev(7, 0));
  report("mknod", r);
  if (r == 0) unlink("/tmp/probe-blk");

  printf("hostpids hidden\n");
  return 0;
}
