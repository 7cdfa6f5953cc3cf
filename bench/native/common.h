// common.h: small helpers shared by the bench's native tools (loadgen, sink, splice-proxy).
//
// Header-only (static inline) so each tool stays one .c file built by one gcc call, and the compiler
// sees every helper at its call site: nothing here adds a call or an indirection to a hot loop.
// Include after the system headers with _GNU_SOURCE defined first.
#ifndef BENCH_NATIVE_COMMON_H
#define BENCH_NATIVE_COMMON_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

// CLOCK_MONOTONIC in nanoseconds: timestamps, deadlines and the time_ns of stats lines.
static inline uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

// Raises the open-file soft limit to the hard limit: every tool holds one or more fds per connection.
// *rl gets the limits in force afterwards (left as getrlimit filled it if that fails).
static inline void nofile_raise(struct rlimit *rl) {
  if (getrlimit(RLIMIT_NOFILE, rl) == 0 && rl->rlim_cur < rl->rlim_max) {
    rl->rlim_cur = rl->rlim_max;
    setrlimit(RLIMIT_NOFILE, rl);
    getrlimit(RLIMIT_NOFILE, rl);
  }
}

// Routes SIGTERM, SIGINT and `extra` (0: none) to a non-blocking signalfd, and ignores SIGPIPE (a send to
// a closed socket must be an EPIPE, not a death). Call before starting threads: they inherit the mask,
// so only the signalfd sees these signals. Returns the fd, or -1.
static inline int signals_to_fd(int extra) {
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  if (extra) sigaddset(&mask, extra);
  pthread_sigmask(SIG_BLOCK, &mask, NULL);
  signal(SIGPIPE, SIG_IGN);
  return signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
}

// Out of fds on accept: spends the spare fd (*reserve_fd, an open /dev/null) to accept and drop one
// connection, then takes the spare back, so a level-triggered listener does not spin on EMFILE.
static inline void accept_drop_one(int listen_fd, int *reserve_fd) {
  close(*reserve_fd);
  int dropped = accept(listen_fd, NULL, NULL);
  if (dropped >= 0) close(dropped);
  *reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

// Sends buf[*head..*tail) on a non-blocking socket: at most 4 send() calls, stopping at EAGAIN (the
// caller waits for EPOLLOUT). Resets both offsets to 0 once everything is sent. Returns -1 on a socket error.
static inline int send_pending(int fd, const uint8_t *buf, uint32_t *head, uint32_t *tail) {
  for (int tries = 0; tries < 4 && *head < *tail; tries++) {
    ssize_t k = send(fd, buf + *head, *tail - *head, MSG_NOSIGNAL);
    if (k < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EINTR) continue;
      return -1;
    }
    *head += (uint32_t)k;
  }
  if (*head == *tail) *head = *tail = 0;
  return 0;
}

// An MQTT remaining-length varint of v at p; returns its length (1..4 bytes for any valid v).
static inline size_t put_varint(uint8_t *p, uint32_t v) {
  size_t n = 0;
  do {
    uint8_t b = v & 0x7f;
    v >>= 7;
    p[n++] = b | (v ? 0x80 : 0);
  } while (v);
  return n;
}

// MQTT fixed header at p[0..n): -1 invalid, 0 need more bytes, 1 done (*hlen header bytes, *rl remaining
// length). MQTT 3.1.1 section 2.2.3: the remaining-length varint is at most 4 bytes.
static inline int fixed_header(const uint8_t *p, uint32_t n, uint32_t *hlen, uint32_t *rl) {
  uint32_t value = 0;
  for (uint32_t i = 1; i <= 4; i++) {
    if (i >= n) return 0;
    value |= (uint32_t)(p[i] & 0x7f) << (7 * (i - 1));
    if (!(p[i] & 0x80)) { *hlen = i + 1; *rl = value; return 1; }
  }
  return -1;
}

// ---------------------------------------------------------------- flags

// Prints "<prog>: msg[: arg]" and the usage text on stderr, then exits 2 (bad flags). msg NULL: usage only.
static inline __attribute__((noreturn)) void usage_exit(const char *prog, const char *usage, const char *msg,
                                                        const char *arg) {
  if (msg) fprintf(stderr, "%s: %s%s%s\n\n", prog, msg, arg ? ": " : "", arg ? arg : "");
  fputs(usage, stderr);
  exit(2);
}

// "--flag=value": copies "--flag" into name[0..size) and returns the value. NULL (name untouched) for any
// other argument, or a flag name that does not fit; the caller then takes the value from the next argv.
static inline const char *flag_split(const char *a, char *name, size_t size) {
  const char *eq = strchr(a, '=');
  if (strncmp(a, "--", 2) != 0 || !eq || (size_t)(eq - a) >= size) return NULL;
  memcpy(name, a, (size_t)(eq - a));
  name[eq - a] = 0;
  return eq + 1;
}

// Whole-string base-10 integer in min..max into *out; -1 (nothing written) if malformed or out of range.
static inline int parse_long_in(const char *s, long min, long max, long *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < min || v > max) return -1;
  *out = v;
  return 0;
}

// "127.x.y.z" into a host-order address; -1 if malformed or not loopback (the bench runs on loopback only).
static inline int parse_loopback(const char *s, uint32_t *out) {
  struct in_addr a;
  if (inet_pton(AF_INET, s, &a) != 1) return -1;
  uint32_t h = ntohl(a.s_addr);
  if ((h >> 24) != 127) return -1;
  *out = h;
  return 0;
}

// "A-B" (or one address "A"): a range of loopback source addresses, as the first (host order) and how
// many; -1 (nothing written) if malformed, not loopback, or B < A.
static inline int parse_source_range(const char *v, uint32_t *first_out, uint32_t *count_out) {
  char a[64], b[64];
  const char *dash = strchr(v, '-');
  if (strlen(v) >= sizeof a) return -1;
  if (dash) {
    memcpy(a, v, (size_t)(dash - v));
    a[dash - v] = 0;
    strcpy(b, dash + 1);
  } else {
    strcpy(a, v);
    strcpy(b, v);
  }
  uint32_t first, last;
  if (parse_loopback(a, &first) != 0 || parse_loopback(b, &last) != 0 || last < first) return -1;
  *first_out = first;
  *count_out = last - first + 1;
  return 0;
}

// Binds fd to the next of `count` loopback source addresses from `first` (host order), in turn across
// threads (*counter, relaxed fetch-add: only the rotation matters). The port is chosen at connect()
// from the full 4-tuple (IP_BIND_ADDRESS_NO_PORT), not reserved per address at bind(). -1 on failure.
#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif
static inline int bind_next_source(int fd, uint32_t first, uint32_t count, uint64_t *counter) {
  int one = 1;
  setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
  uint64_t k = __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED) % count;
  struct sockaddr_in src = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(first + (uint32_t)k) };
  return bind(fd, (struct sockaddr *)&src, sizeof src);
}

// "HOST:PORT" (split at the last ':'): copies HOST into host[0..size) and returns the PORT text; NULL if
// there is no ':' or HOST does not fit.
static inline const char *split_host_port(const char *s, char *host, size_t size) {
  const char *colon = strrchr(s, ':');
  if (!colon || (size_t)(colon - s) >= size) return NULL;
  memcpy(host, s, (size_t)(colon - s));
  host[colon - s] = 0;
  return colon + 1;
}

#endif
