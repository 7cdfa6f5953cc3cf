// splice-proxy: a plain TCP proxy on splice(2), the "plain C splice proxy" ceiling for the Sluice bench.
//
// Linux only. One thread, one edge-triggered epoll loop. Each accepted client gets the next backend
// round-robin; bytes move socket -> pipe -> socket with splice(2), one pipe per direction, never
// through user space. No MQTT parsing at all: this is what forwarding costs with nothing else to do.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"

#define MAX_BACKENDS 64
#define LISTEN_BACKLOG 4096
#define EPOLL_BATCH 256
#define ACCEPTS_PER_EVENT 64
#define ROUNDS_PER_TURN 8   // splice rounds per direction before other connections get a turn
#define PIPE_POOL_MAX 256   // empty pipes kept for reuse: a new one costs pipe2 + F_SETPIPE_SZ

typedef struct pair pair_t;

typedef struct {
  int fd;
  // Edge-triggered readiness cache: set from epoll events, cleared when a splice says EAGAIN.
  uint8_t readable, writable;
  uint8_t connected; // the backend's non-blocking connect has finished (clients: always)
  pair_t *pair;
} side_t;

typedef struct {
  int pipe[2];      // [0] read end, [1] write end; -1 when absent
  size_t pending;   // bytes in the pipe not yet written to the destination (exact)
  uint8_t eof;      // the source sent FIN
  uint8_t shut;     // the destination got shutdown(SHUT_WR)
} dir_t;

struct pair {
  side_t side[2];   // 0 = client, 1 = backend
  dir_t dir[2];     // dir[i] moves side[i] -> side[1 - i]
  uint8_t queued, dead;
  pair_t *next_ready, *next_dead;
};

static int g_epfd, g_listen_fd, g_reserve_fd;
static struct sockaddr_in g_backends[MAX_BACKENDS];
static int g_nbackends;
static unsigned g_next_backend;
static int g_pipe_bytes = 1 << 20;
static int g_pool[PIPE_POOL_MAX][2];
static int g_npool;
static pair_t *g_ready; // pairs that used up their turn with work left
static pair_t *g_dead;  // closed pairs, freed after the current batch
static char g_listen_tag, g_signal_tag; // epoll data.ptr markers for the two non-connection fds

static const char usage_text[] =
    "usage: splice-proxy --listen 127.0.0.1:PORT --backends 127.0.0.1:P1[,127.0.0.1:P2,...] [--pipe-size BYTES]\n"
    "\n"
    "Plain TCP proxy: each client goes to the next backend round-robin; bytes move with splice(2)\n"
    "through one pipe per direction (F_SETPIPE_SZ, default 1048576; the kernel's size if refused).\n"
    "Addresses must be 127.x.y.z. Prints {\"type\":\"ready\",\"port\":PORT} on stdout once listening;\n"
    "exits on SIGTERM/SIGINT.\n";

static void usage_error(const char *msg, const char *arg) { usage_exit("splice-proxy", usage_text, msg, arg); }

// Parses "127.x.y.z:PORT" into *out. Returns -1 if malformed or not loopback.
static int parse_addr(const char *s, struct sockaddr_in *out) {
  char host[64];
  const char *port_text = split_host_port(s, host, sizeof host);
  uint32_t addr;
  long port;
  if (!port_text || parse_loopback(host, &addr) != 0 || parse_long_in(port_text, 1, 65535, &port) != 0) return -1;
  *out = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(addr) };
  return 0;
}

static int pipe_get(int p[2]) {
  if (g_npool > 0) {
    g_npool--;
    p[0] = g_pool[g_npool][0];
    p[1] = g_pool[g_npool][1];
    return 0;
  }
  if (pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0) return -1;
  // Best effort: above pipe-max-size or the per-user pipe budget the kernel refuses; its size stays.
  fcntl(p[1], F_SETPIPE_SZ, g_pipe_bytes);
  return 0;
}

static void pipe_put(int p[2], size_t pending) {
  if (p[0] < 0) return;
  if (pending == 0 && g_npool < PIPE_POOL_MAX) { // only an empty pipe can be reused
    g_pool[g_npool][0] = p[0];
    g_pool[g_npool][1] = p[1];
    g_npool++;
  } else {
    close(p[0]);
    close(p[1]);
  }
  p[0] = p[1] = -1;
}

static void pair_close(pair_t *p) {
  if (p->dead) return;
  p->dead = 1;
  for (int i = 0; i < 2; i++) {
    if (p->side[i].fd >= 0) close(p->side[i].fd); // also removes it from epoll (never dup'ed)
    pipe_put(p->dir[i].pipe, p->dir[i].pending);
  }
  p->next_dead = g_dead;
  g_dead = p;
}

// Moves bytes along dir[i] until the source or destination would block or the direction is finished
// (0), the turn's budget runs out (1: queue the pair for another turn), or an error (-1).
static int pump(pair_t *p, int i) {
  dir_t *d = &p->dir[i];
  side_t *src = &p->side[i], *dst = &p->side[1 - i];
  for (int round = 0; round < ROUNDS_PER_TURN; round++) {
    if (d->pending > 0) {
      // While the pipe holds bytes the source is not read: that is the backpressure.
      if (!dst->writable) return 0;
      ssize_t n = splice(d->pipe[0], NULL, dst->fd, NULL, d->pending, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n < 0) {
        if (errno == EAGAIN) { dst->writable = 0; return 0; } // EPOLLOUT will set it again
        if (errno == EINTR) continue;
        return -1;
      }
      d->pending -= (size_t)n; // a partial write loops: the next splice says whether the socket is full
      continue;
    }
    if (d->eof) {
      // Half-close once everything is through. Not before connect finishes: shutdown() of a
      // socket still in SYN_SENT would abort the connection.
      if (!d->shut && dst->connected) {
        shutdown(dst->fd, SHUT_WR);
        d->shut = 1;
      }
      return 0;
    }
    if (!src->readable) return 0;
    ssize_t n = splice(src->fd, NULL, d->pipe[1], NULL, (size_t)g_pipe_bytes, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n < 0) {
      if (errno == EAGAIN) { src->readable = 0; return 0; } // the pipe is empty here, so the socket is
      if (errno == EINTR) continue;
      return -1;
    }
    if (n == 0) d->eof = 1;
    d->pending = (size_t)n;
  }
  return 1;
}

static void service(pair_t *p) {
  int more = 0;
  for (int i = 0; i < 2; i++) {
    int r = pump(p, i);
    if (r < 0) { pair_close(p); return; }
    more |= r;
  }
  if (p->dir[0].shut && p->dir[1].shut) { pair_close(p); return; } // both FINs delivered
  if (more && !p->queued) {
    p->queued = 1;
    p->next_ready = g_ready;
    g_ready = p;
  }
}

static void on_event(side_t *s, uint32_t ev) {
  pair_t *p = s->pair;
  if (p->dead) return; // the other side's event in this batch closed it
  if (ev & EPOLLERR) { pair_close(p); return; } // reset, or the backend refused the connect
  if (!s->connected) {
    int err = 0;
    socklen_t len = sizeof err;
    if ((ev & EPOLLHUP) || getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err) {
      pair_close(p);
      return;
    }
    if (!(ev & EPOLLOUT)) return;
    s->connected = 1;
  }
  if (ev & (EPOLLIN | EPOLLHUP)) s->readable = 1;
  if (ev & (EPOLLOUT | EPOLLHUP)) s->writable = 1;
  service(p);
}

static int add_fd(int fd, void *ptr, uint32_t events) {
  struct epoll_event ev = { .events = events, .data.ptr = ptr };
  return epoll_ctl(g_epfd, EPOLL_CTL_ADD, fd, &ev);
}

static void on_accept(void) {
  for (int k = 0; k < ACCEPTS_PER_EVENT; k++) {
    int cfd = accept4(g_listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (cfd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if ((errno == EMFILE || errno == ENFILE) && g_reserve_fd >= 0) {
        // Out of fds: spend the spare one to accept and drop, so the level-triggered listener does not spin.
        accept_drop_one(g_listen_fd, &g_reserve_fd);
        fprintf(stderr, "splice-proxy: out of file descriptors; dropped a connection\n");
      }
      return; // EAGAIN or an error: wait for the next event
    }
    pair_t *p = calloc(1, sizeof *p);
    if (!p) { close(cfd); return; }
    p->side[0] = (side_t){ .fd = cfd, .readable = 1, .writable = 1, .connected = 1, .pair = p };
    p->side[1] = (side_t){ .fd = -1, .pair = p };
    for (int i = 0; i < 2; i++) p->dir[i].pipe[0] = p->dir[i].pipe[1] = -1;
    const struct sockaddr_in *b = &g_backends[g_next_backend++ % (unsigned)g_nbackends];
    int bfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    p->side[1].fd = bfd;
    int one = 1;
    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (bfd < 0 || setsockopt(bfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0 ||
        (connect(bfd, (const struct sockaddr *)b, sizeof *b) != 0 && errno != EINPROGRESS) ||
        pipe_get(p->dir[0].pipe) != 0 || pipe_get(p->dir[1].pipe) != 0 ||
        add_fd(cfd, &p->side[0], EPOLLIN | EPOLLOUT | EPOLLET) != 0 ||
        add_fd(bfd, &p->side[1], EPOLLIN | EPOLLOUT | EPOLLET) != 0) {
      pair_close(p); // closes the client too: no backend, no connection
      continue;
    }
    service(p); // the client may have sent CONNECT already: start filling its pipe
  }
}

int main(int argc, char **argv) {
  const char *listen_arg = NULL, *backends_arg = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    char name[64];
    const char *v = flag_split(a, name, sizeof name); // --flag=value
    if (v) a = name;
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) { fputs(usage_text, stdout); return 0; }
    if (strcmp(a, "--listen") && strcmp(a, "--backends") && strcmp(a, "--pipe-size")) usage_error("unknown flag", argv[i]);
    if (!v) {
      if (i + 1 >= argc) usage_error("missing value for", a);
      v = argv[++i];
    }
    if (strcmp(a, "--listen") == 0) listen_arg = v;
    else if (strcmp(a, "--backends") == 0) backends_arg = v;
    else {
      long n;
      if (parse_long_in(v, 4096, 1L << 30, &n) != 0) usage_error("--pipe-size must be 4096..1073741824", v);
      g_pipe_bytes = (int)n;
    }
  }
  struct sockaddr_in listen_addr;
  if (!listen_arg || !backends_arg) usage_error("--listen and --backends are required", NULL);
  if (parse_addr(listen_arg, &listen_addr) != 0) usage_error("--listen must be 127.x.y.z:PORT", listen_arg);
  char buf[4096];
  if (strlen(backends_arg) >= sizeof buf) usage_error("--backends too long", NULL);
  strcpy(buf, backends_arg);
  char *save = NULL;
  for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    if (g_nbackends == MAX_BACKENDS) usage_error("too many backends (max 64)", NULL);
    if (parse_addr(tok, &g_backends[g_nbackends]) != 0) usage_error("each backend must be 127.x.y.z:PORT", tok);
    g_nbackends++;
  }
  if (g_nbackends == 0) usage_error("--backends is empty", NULL);

  struct rlimit rl;
  nofile_raise(&rl);
  int sigfd = signals_to_fd(0); // also ignores SIGPIPE: a splice into a closed socket must be an EPIPE
  g_epfd = epoll_create1(EPOLL_CLOEXEC);
  g_reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  g_listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (sigfd < 0 || g_epfd < 0 || g_listen_fd < 0) { perror("splice-proxy: setup"); return 1; }
  int one = 1;
  setsockopt(g_listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(g_listen_fd, (struct sockaddr *)&listen_addr, sizeof listen_addr) != 0 || listen(g_listen_fd, LISTEN_BACKLOG) != 0) {
    fprintf(stderr, "splice-proxy: cannot listen on %s: %s\n", listen_arg, strerror(errno));
    return 1;
  }
  if (add_fd(g_listen_fd, &g_listen_tag, EPOLLIN) != 0 || add_fd(sigfd, &g_signal_tag, EPOLLIN) != 0) {
    perror("splice-proxy: epoll_ctl");
    return 1;
  }
  // One pipe made up front, to report the size the kernel actually gave (then pooled).
  int probe[2];
  if (pipe_get(probe) != 0) { perror("splice-proxy: pipe2"); return 1; }
  int got_bytes = fcntl(probe[1], F_GETPIPE_SZ);
  pipe_put(probe, 0);
  printf("{\"type\":\"ready\",\"port\":%d}\n", ntohs(listen_addr.sin_port));
  fflush(stdout);
  fprintf(stderr, "splice-proxy: %s -> %d backend(s), pipes of %d bytes\n", listen_arg, g_nbackends, got_bytes);

  struct epoll_event events[EPOLL_BATCH];
  for (int quit = 0; !quit;) {
    int n = epoll_wait(g_epfd, events, EPOLL_BATCH, g_ready ? 0 : -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      perror("splice-proxy: epoll_wait");
      return 1;
    }
    for (int i = 0; i < n; i++) {
      void *ptr = events[i].data.ptr;
      if (ptr == &g_listen_tag) on_accept();
      else if (ptr == &g_signal_tag) quit = 1;
      else on_event(ptr, events[i].events);
    }
    // Pairs that used up their turn go again, after the ones with fresh events (edge-triggered:
    // no new event would come for the bytes they left behind).
    pair_t *r = g_ready;
    g_ready = NULL;
    while (r) {
      pair_t *next = r->next_ready;
      r->queued = 0;
      if (!r->dead) service(r);
      r = next;
    }
    // Free closed pairs only now: one batch can hold events for both sides of a pair.
    while (g_dead) {
      pair_t *next = g_dead->next_dead;
      free(g_dead);
      g_dead = next;
    }
  }
  fprintf(stderr, "splice-proxy: stopping\n");
  return 0; // open connections are closed by process exit
}
