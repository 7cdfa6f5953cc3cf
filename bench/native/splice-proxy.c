// splice-proxy: the bench's plain C proxy, built on Sluice's own pump (native/pump.c, compiled in).
//
// Linux only. One thread, one epoll loop, as one Sluice worker: each accepted client gets the next
// backend round-robin (a non-blocking connect), then the pair is handed to the very pump the addon
// uses (copy through a scratch buffer for small reads, splice(2) through pooled pipes for bulk ones,
// edge-triggered interest, half-close passed on). No MQTT parsing and no Node: the bench's c-splice
// row is Sluice's pump alone, so the difference to sluice-splice is what Node and the CONNECT phase cost.
//
// The pump's types are in native/sluice.h, beside the engine's Node-API fields: this program includes
// Node's headers for those declarations only and links nothing of Node.
#include "../../native/sluice.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common.h"

#define MAX_BACKENDS 64
#define LISTEN_BACKLOG 4096
#define EPOLL_BATCH 256
#define ACCEPTS_PER_EVENT 64
#define PIPE_POOL_MAX 256  // empty pipes kept for reuse: a new one costs pipe2 + F_SETPIPE_SZ
#define SCRATCH_BYTES (64 * 1024)
// epoll data of the two fds that are not connections (a conn_t pointer, its low bit the side, is below)
#define TAG_LISTEN UINT64_MAX
#define TAG_SIGNAL (UINT64_MAX - 1)
#define TAG_HOLD (UINT64_MAX - 2)

static state_t g_st;  // only the pump's fields: epfd, pipe pool, scratch, counters
static int g_listen_fd, g_reserve_fd;
static struct sockaddr_in g_backends[MAX_BACKENDS];
static int g_nbackends;
static unsigned g_next_backend;

static const char usage_text[] =
    "usage: splice-proxy --listen 127.0.0.1:PORT --backends 127.0.0.1:P1[,127.0.0.1:P2,...] [--pipe-size BYTES] [--coalesce-us US]\n"
    "\n"
    "Plain TCP proxy on Sluice's pump (native/pump.c): each client goes to the next backend round-robin;\n"
    "small reads are copied, bulk ones spliced through pooled pipes (F_SETPIPE_SZ, default 1048576; the\n"
    "kernel's size if refused). A source streaming small writes is held up to --coalesce-us\n"
    "microseconds so they move together (default 500, as Sluice's coalesce_us; 0: never held).\n"
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

// ---- the pump's host (see native/sluice.h) ----

int conn_interest(conn_t *c, int side, uint32_t events) {
  if (c->registered[side] && c->events[side] == events) return 0;
  struct epoll_event ev = { .events = events, .data = { .u64 = (uint64_t)(uintptr_t)c | (uint64_t)side } };
  if (epoll_ctl(g_st.epfd, c->registered[side] ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd[side], &ev) != 0) return errno;
  c->registered[side] = 1;
  c->events[side] = events;
  return 0;
}

/** Closes a connection; its memory goes after the current batch (one batch can hold both sides' events). */
static void conn_close(conn_t *c) {
  for (int s = 0; s < 2; s++) {
    if (c->fd[s] >= 0) close(c->fd[s]);  // also takes it out of the epoll set (never dup'ed)
    c->fd[s] = -1;
  }
  c->phase = 0;
  list_push(&g_st.dead, &c->link);
}

/** The pump's tap: this proxy never sets one. */
void conn_broker_first(conn_t *c, const uint8_t *bytes, uint32_t len) {
  (void)c;
  (void)bytes;
  (void)len;
}

void conn_pair_ended(conn_t *c, int reason, int err) {
  (void)reason;
  (void)err;
  conn_close(c);
}

// ---- connections ----

static void on_connected(conn_t *c, uint32_t events) {
  if (events & (EPOLLERR | EPOLLHUP)) {
    conn_close(c);  // refused: no backend, no connection; the client is closed too
    return;
  }
  pair_start(c);  // registers both sides for what the pump waits on
}

static void on_event(conn_t *c, int side, uint32_t events) {
  if (c->phase == kPhaseConnecting) {
    if (side == kBroker) on_connected(c, events);
  } else if (c->phase == kPhasePumping) {
    if (events & EPOLLERR) pair_on_error(c, side, 0);
    else pair_pump(c, side, events);
  }
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
      return;  // EAGAIN or an error: wait for the next event
    }
    conn_t *c = calloc(1, sizeof *c);
    if (!c) { close(cfd); return; }
    c->st = &g_st;
    c->first = -1;
    c->dl_kind = -1;
    list_init(&c->link);
    for (int d = 0; d < 2; d++) c->dir[d].pipe.rd = c->dir[d].pipe.wr = -1;
    c->fd[kClient] = cfd;  // TCP_NODELAY comes from the listener
    c->phase = kPhaseConnecting;
    const struct sockaddr_in *b = &g_backends[g_next_backend++ % (unsigned)g_nbackends];
    int one = 1;
    // Until the backend answers the client is not polled: its bytes wait in the kernel, as in Sluice.
    c->fd[kBroker] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd[kBroker] < 0 || setsockopt(c->fd[kBroker], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0 ||
        (connect(c->fd[kBroker], (const struct sockaddr *)b, sizeof *b) != 0 && errno != EINPROGRESS) ||
        conn_interest(c, kBroker, EPOLLOUT) != 0) {
      conn_close(c);
      continue;
    }
  }
}

static int add_tag(int fd, uint64_t tag) {
  struct epoll_event ev = { .events = EPOLLIN, .data = { .u64 = tag } };
  return epoll_ctl(g_st.epfd, EPOLL_CTL_ADD, fd, &ev);
}

int main(int argc, char **argv) {
  g_st.pipe_bytes = 1 << 20;
  g_st.hold_ns = 500 * 1000;
  const char *listen_arg = NULL, *backends_arg = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    char name[64];
    const char *v = flag_split(a, name, sizeof name); // --flag=value
    if (v) a = name;
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) { fputs(usage_text, stdout); return 0; }
    if (strcmp(a, "--listen") && strcmp(a, "--backends") && strcmp(a, "--pipe-size") && strcmp(a, "--coalesce-us")) usage_error("unknown flag", argv[i]);
    if (!v) {
      if (i + 1 >= argc) usage_error("missing value for", a);
      v = argv[++i];
    }
    if (strcmp(a, "--listen") == 0) listen_arg = v;
    else if (strcmp(a, "--backends") == 0) backends_arg = v;
    else if (strcmp(a, "--coalesce-us") == 0) {
      long n;
      if (parse_long_in(v, 0, 10000, &n) != 0) usage_error("--coalesce-us must be 0..10000", v);
      g_st.hold_ns = (uint64_t)n * 1000;
    } else {
      long n;
      if (parse_long_in(v, 4096, 1L << 30, &n) != 0) usage_error("--pipe-size must be 4096..1073741824", v);
      g_st.pipe_bytes = (size_t)n;
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
  int sigfd = signals_to_fd(0);  // also ignores SIGPIPE: a write into a closed socket must be an EPIPE
  list_init(&g_st.conns);
  list_init(&g_st.dead);
  g_st.epfd = epoll_create1(EPOLL_CLOEXEC);
  g_st.scratch = malloc(SCRATCH_BYTES);
  g_st.pool = calloc(PIPE_POOL_MAX, sizeof *g_st.pool);
  g_st.pool_max = PIPE_POOL_MAX;
  g_reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  g_listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (sigfd < 0 || g_st.epfd < 0 || g_listen_fd < 0 || !g_st.scratch || !g_st.pool) { perror("splice-proxy: setup"); return 1; }
  int one = 1;
  setsockopt(g_listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(g_listen_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // accepted sockets inherit it
  if (bind(g_listen_fd, (struct sockaddr *)&listen_addr, sizeof listen_addr) != 0 || listen(g_listen_fd, LISTEN_BACKLOG) != 0) {
    fprintf(stderr, "splice-proxy: cannot listen on %s: %s\n", listen_arg, strerror(errno));
    return 1;
  }
  if (pump_init(&g_st) != 0 || add_tag(g_listen_fd, TAG_LISTEN) != 0 || add_tag(sigfd, TAG_SIGNAL) != 0 || add_tag(g_st.hold_fd, TAG_HOLD) != 0) {
    perror("splice-proxy: epoll_ctl");
    return 1;
  }
  // One pipe made up front, to report the size the kernel actually gave (then pooled).
  pipe_t probe;
  if (pipe_take(&g_st, &probe) != 0) { perror("splice-proxy: pipe2"); return 1; }
  size_t got_bytes = probe.cap;
  pipe_give(&g_st, &probe);
  printf("{\"type\":\"ready\",\"port\":%d}\n", ntohs(listen_addr.sin_port));
  fflush(stdout);
  fprintf(stderr, "splice-proxy: %s -> %d backend(s), pipes of %zu bytes\n", listen_arg, g_nbackends, got_bytes);

  struct epoll_event events[EPOLL_BATCH];
  for (int quit = 0; !quit;) {
    int n = epoll_wait(g_st.epfd, events, EPOLL_BATCH, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      perror("splice-proxy: epoll_wait");
      return 1;
    }
    for (int i = 0; i < n; i++) {
      uint64_t u = events[i].data.u64;
      if (u == TAG_LISTEN) on_accept();
      else if (u == TAG_SIGNAL) quit = 1;
      else if (u == TAG_HOLD) pump_hold_tick(&g_st);
      else on_event((conn_t *)(uintptr_t)(u & ~(uint64_t)1), (int)(u & 1), events[i].events);
    }
    while (!list_empty(&g_st.dead)) {
      conn_t *c = container_of(g_st.dead.next, conn_t, link);
      list_remove(&c->link);
      free(c);
    }
  }
  fprintf(stderr, "splice-proxy: stopping\n");
  return 0;  // open connections are closed by process exit
}
