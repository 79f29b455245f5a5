/*
 * ctr-nsexec: the one single-threaded step ctr cannot take from Deno.
 *
 * The kernel refuses unshare(CLONE_NEWUSER) and setns() into a user namespace to a
 * multithreaded process, and every Deno process has threads. So a container that runs in
 * its own user namespace starts through this small program, which does only that, then
 * execs the Deno container init. Everything else (mounts, devices, credentials, seccomp)
 * stays in TypeScript (runtime/container_init.ts). The TypeScript side computes every
 * argument; this program takes no decisions of its own.
 *
 *   ctr-nsexec create [--netns PATH] STATUS_PATH -- PROGRAM ARGS...
 *     1. open STATUS_PATH (the parent's status pipe) as fd 3, for the init to reopen as
 *        /proc/self/fd/3 (once in the new user namespace it could no longer open the
 *        parent's /proc entries);
 *     2. setns(PATH, CLONE_NEWNET): a network namespace made by the host is joined while
 *        still privileged in the host's user namespace (it stays owned by the host's);
 *     3. unshare(CLONE_NEWUSER); write "U\n" on fd 3 and wait for one byte on stdin: the
 *        parent writes uid_map and gid_map meanwhile;
 *     4. become root of the new namespace (setresgid, setgroups, setresuid);
 *     5. unshare(CLONE_NEWPID), so that the pid namespace belongs to the new user namespace
 *        (or root in the container could not mount its /proc), and clone(CLONE_PARENT) the
 *        init: it becomes PID 1 of that namespace and a child of our parent, which reaps it;
 *     6. write "P <host pid>\n" on fd 3 and exit 0.
 *
 *   ctr-nsexec join USERNS_PATH NETNS_PATH STATUS_PATH -- PROGRAM ARGS...
 *     For exec into such a container: fd 3 as above, setns into the container's network
 *     namespace, then into its user namespace (the parent already placed us in its pid
 *     namespace), become root there and exec PROGRAM. The init joins the other namespaces.
 *
 * Errors: one line "E <step>: <strerror>\n" on fd 3 (when open) and exit status 125.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define STATUS_FD 3

static int status_fd = -1;

static void say(const char *text) {
  if (status_fd < 0) return;
  size_t n = strlen(text), off = 0;
  while (off < n) {
    ssize_t w = write(status_fd, text + off, n - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    off += (size_t)w;
  }
}

static void die(const char *step) {
  char line[512];
  snprintf(line, sizeof line, "E %s: %s\n", step, strerror(errno));
  if (status_fd >= 0) say(line);
  else fputs(line + 2, stderr);
  _exit(125);
}

/* The status pipe on fd 3, without close-on-exec (the init reopens it). */
static void open_status(const char *path) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) die("open status pipe");
  if (fd != STATUS_FD) {
    if (dup2(fd, STATUS_FD) < 0) die("dup2 status pipe");
    close(fd);
  } else if (fcntl(fd, F_SETFD, 0) < 0) {
    die("fcntl status pipe");
  }
  status_fd = STATUS_FD;
}

static void join(const char *path, int type, const char *step) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) die(step);
  if (setns(fd, type) < 0) die(step);
  close(fd);
}

static void become_root(void) {
  if (setresgid(0, 0, 0) < 0) die("setresgid");
  if (setgroups(0, NULL) < 0) die("setgroups");
  if (setresuid(0, 0, 0) < 0) die("setresuid");
}

static void run(char **argv) {
  execv(argv[0], argv);
  die("execv");
}

static int usage(void) {
  fputs("usage: ctr-nsexec create [--netns PATH] STATUS_PATH -- PROGRAM ARGS...\n"
        "       ctr-nsexec join USERNS_PATH NETNS_PATH STATUS_PATH -- PROGRAM ARGS...\n",
        stderr);
  return 125;
}

int main(int argc, char **argv) {
  if (argc < 2) return usage();
  int i = 2;
  if (strcmp(argv[1], "create") == 0) {
    const char *netns = NULL;
    if (i + 1 < argc && strcmp(argv[i], "--netns") == 0) {
      netns = argv[i + 1];
      i += 2;
    }
    if (i + 2 >= argc || strcmp(argv[i + 1], "--") != 0) return usage();
    open_status(argv[i]);
    char **program = &argv[i + 2];
    if (netns) join(netns, CLONE_NEWNET, "setns network namespace");
    if (unshare(CLONE_NEWUSER) < 0) die("unshare user namespace");
    say("U\n");
    char go;
    ssize_t r;
    do r = read(0, &go, 1);
    while (r < 0 && errno == EINTR);
    if (r != 1) {
      errno = EPIPE;
      die("wait for the id maps");
    }
    become_root();
    if (unshare(CLONE_NEWPID) < 0) die("unshare pid namespace");
    long pid = syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, 0, 0, 0);
    if (pid < 0) die("clone");
    if (pid == 0) run(program);
    char line[64];
    snprintf(line, sizeof line, "P %ld\n", pid);
    say(line);
    return 0;
  }
  if (strcmp(argv[1], "join") == 0) {
    if (i + 4 >= argc || strcmp(argv[i + 3], "--") != 0) return usage();
    open_status(argv[i + 2]);
    join(argv[i + 1], CLONE_NEWNET, "setns network namespace");
    join(argv[i], CLONE_NEWUSER, "setns user namespace");
    become_root();
    run(&argv[i + 4]);
  }
  return usage();
}
