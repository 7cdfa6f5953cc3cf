// tlsgen: TLS and WebSocket clients for the Sluice bench, on OpenSSL: handshake rate (full or resumed),
// 16 KiB streaming throughput, and idle connections held for a memory reading.
//
// Linux only. Blocking sockets, one thread per stream (throughput) or per handshake loop (handshakes):
// the load here is a few dozen sockets, so a thread each is simpler than an event loop and costs
// nothing measurable. Every run is bounded by time. Transports: tls (MQTT over TLS), ws (MQTT over
// WebSocket), wss (WebSocket over TLS). Certificates are not verified: the client's own CPU stays low,
// and the bench measures the server's side of the handshake.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "common.h"


#define MAX_THREADS 256
#define IO_TIMEOUT_SEC 5          // per socket read or write: a stalled target is an error, not a hang
#define MAX_SIZE (1024 * 1024)
#define BATCH_MIN_BYTES (256 * 1024)
#define TOPIC "bench/t"
#define TOPIC_LEN 7

enum { M_NONE, M_HANDSHAKES, M_THROUGHPUT, M_IDLE };
enum { T_TLS, T_WS, T_WSS };

static const char usage_text[] =
  "usage: tlsgen MODE --target 127.0.0.1:PORT [options]\n"
  "  handshakes   connect, handshake, CONNECT, CONNACK, close, in a loop on each thread\n"
  "  throughput   stream QoS 0 PUBLISH packets on --conns connections\n"
  "  idle         open --conns connections (CONNECT, CONNACK), print idle-ready, hold them until stdin\n"
  "options:\n"
  "  --transport tls|ws|wss   (default tls)\n"
  "  --path P                 WebSocket path (default /mqtt)\n"
  "  --threads N              handshakes: loops in parallel; idle: threads opening connections (default 8)\n"
  "  --conns N                throughput / idle: connections (default 16)\n"
  "  --size S                 throughput: PUBLISH payload bytes (default 16384)\n"
  "  --resume                 handshakes: resume the thread's last TLS session (tickets) instead of a full handshake\n"
  "  --seconds T              measured seconds (default 3); --warmup W seconds before them (default 1)\n"
  "  --hold-seconds T         idle: give up holding after T seconds (default 600)\n"
  "  --sources A-B            bind client sockets to loopback source addresses A..B in turn\n"
  "  --marks                  print {\"type\":\"window\"} lines when the measured window opens and closes\n";

static struct {
  int mode, transport, resume, marks;
  struct sockaddr_in target;
  const char *path;
  long threads, conns, size;
  double seconds, warmup, hold_seconds;
  uint32_t src_first, src_count; // host order; count 0: the kernel picks the source
} g_opt = { .transport = T_TLS, .path = "/mqtt", .threads = 8, .conns = 16, .size = 16384, .seconds = 3, .warmup = 1,
            .hold_seconds = 600 };

static SSL_CTX *g_ctx;
static uint8_t *g_batch; // throughput: packets (WebSocket: one frame per packet) back to back
static size_t g_batch_len;  // bytes of the batch on the wire
static size_t g_pkt_mqtt, g_batch_mqtt; // MQTT bytes (no frame headers) of one packet and of the batch
static int g_stop;
static uint64_t g_src_counter; // relaxed fetch-add: only rotation matters
static uint64_t g_warm_end, g_end;

typedef struct {
  int fd;
  SSL *ssl; // NULL for ws
} conn_t;

typedef struct {
  pthread_t tid;
  int index;
  // results, read by main after join
  uint64_t handshakes, resumed, errors, bytes;
  conn_t *held; // idle: this thread's connections
  long nheld, opened;
} worker_t;

static int stopping(void) { return __atomic_load_n(&g_stop, __ATOMIC_RELAXED); }
static void usage_error(const char *msg, const char *arg) { usage_exit("tlsgen", usage_text, msg, arg); }

// ---------------------------------------------------------------- MQTT and WebSocket bytes

// A client-to-server WebSocket frame header for a binary frame of n bytes, mask key 0 (XOR with zero:
// the payload goes out as it is, so the client spends nothing on masking; the server unmasks anyway).
static size_t ws_header(uint8_t *p, size_t n) {
  p[0] = 0x82;
  if (n < 126) { p[1] = 0x80 | (uint8_t)n; memset(p + 2, 0, 4); return 6; }
  if (n < 65536) { p[1] = 0x80 | 126; p[2] = (uint8_t)(n >> 8); p[3] = (uint8_t)n; memset(p + 4, 0, 4); return 8; }
  p[1] = 0x80 | 127;
  for (int i = 0; i < 8; i++) p[2 + i] = (uint8_t)((uint64_t)n >> (56 - 8 * i));
  memset(p + 10, 0, 4);
  return 14;
}

// MQTT 3.1.1 CONNECT with clean session, keep-alive 0 and client id `id`, framed for the transport.
static size_t build_connect(uint8_t *out, const char *id) {
  size_t idlen = strlen(id);
  uint8_t pkt[300];
  uint8_t body[280] = { 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 0, (uint8_t)(idlen >> 8), (uint8_t)idlen };
  memcpy(body + 12, id, idlen);
  pkt[0] = 0x10;
  size_t n = 1 + put_varint(pkt + 1, (uint32_t)(12 + idlen));
  memcpy(pkt + n, body, 12 + idlen);
  n += 12 + idlen;
  size_t h = g_opt.transport == T_TLS ? 0 : ws_header(out, n);
  memcpy(out + h, pkt, n);
  return h + n;
}

static size_t build_publish(uint8_t *out, size_t size) {
  uint32_t rl = (uint32_t)(2 + TOPIC_LEN + size);
  uint8_t fixed[5];
  size_t fh = 1 + put_varint(fixed + 1, rl);
  fixed[0] = 0x30;
  size_t h = g_opt.transport == T_TLS ? 0 : ws_header(out, fh + rl);
  memcpy(out + h, fixed, fh);
  out[h + fh] = 0;
  out[h + fh + 1] = TOPIC_LEN;
  memcpy(out + h + fh + 2, TOPIC, TOPIC_LEN);
  memset(out + h + fh + 2 + TOPIC_LEN, 0, size);
  return h + fh + rl;
}

// ---------------------------------------------------------------- one connection

static int io_write(conn_t *c, const void *buf, size_t n) {
  const uint8_t *p = buf;
  while (n > 0) {
    int k = c->ssl ? SSL_write(c->ssl, p, (int)(n > (1u << 30) ? (1u << 30) : n)) : (int)send(c->fd, p, n, MSG_NOSIGNAL);
    if (k <= 0) {
      if (!c->ssl && k < 0 && errno == EINTR) continue;
      return -1;
    }
    p += k;
    n -= (size_t)k;
  }
  return 0;
}

static int io_read(conn_t *c, void *buf, size_t n) {
  int k = c->ssl ? SSL_read(c->ssl, buf, (int)n) : (int)recv(c->fd, buf, n, 0);
  return k;
}

// Reads exactly n bytes; -1 on error or EOF.
static int read_exact(conn_t *c, uint8_t *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    int k = io_read(c, buf + got, n - got);
    if (k <= 0) return -1;
    got += (size_t)k;
  }
  return 0;
}

// The WebSocket upgrade: request, then the response head up to its blank line, which must say 101.
static int ws_upgrade(conn_t *c) {
  char req[512];
  int n = snprintf(req, sizeof req,
                   "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                   "Sec-WebSocket-Protocol: mqtt\r\n\r\n", g_opt.path);
  if (io_write(c, req, (size_t)n) != 0) return -1;
  char head[2048];
  size_t len = 0;
  // One byte at a time: the head is short and must not swallow the CONNACK frame behind it.
  while (len < sizeof head - 1) {
    if (io_read(c, head + len, 1) != 1) return -1;
    len++;
    if (len >= 4 && memcmp(head + len - 4, "\r\n\r\n", 4) == 0) break;
  }
  head[len] = 0;
  return strncmp(head, "HTTP/1.1 101", 12) == 0 ? 0 : -1;
}

static void conn_close(conn_t *c) {
  if (c->ssl) {
    SSL_shutdown(c->ssl); // sends close_notify; does not wait for the peer's
    SSL_free(c->ssl);
    c->ssl = NULL;
  }
  if (c->fd >= 0) close(c->fd);
  c->fd = -1;
}

// TCP connect, TLS handshake (resuming *session if given), WebSocket upgrade, CONNECT, CONNACK.
// Returns 0 with the connection open, -1 with it closed. *resumed: the TLS session was resumed.
static int conn_open(conn_t *c, const char *id, SSL_SESSION *session, int *resumed) {
  c->ssl = NULL;
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (c->fd < 0) return -1;
  struct timeval tv = { .tv_sec = IO_TIMEOUT_SEC };
  setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  // Many source addresses: ports (and TIME_WAIT, which the closing client holds) never run out.
  if (g_opt.src_count && bind_next_source(c->fd, g_opt.src_first, g_opt.src_count, &g_src_counter) != 0) goto fail;
  if (connect(c->fd, (struct sockaddr *)&g_opt.target, sizeof g_opt.target) != 0) goto fail;
  if (g_opt.transport != T_WS) {
    c->ssl = SSL_new(g_ctx);
    if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1) goto fail;
    if (session) SSL_set_session(c->ssl, session);
    if (SSL_connect(c->ssl) != 1) goto fail;
    if (resumed) *resumed = SSL_session_reused(c->ssl);
  }
  if (g_opt.transport != T_TLS && ws_upgrade(c) != 0) goto fail;
  uint8_t pkt[320];
  size_t n = build_connect(pkt, id);
  if (io_write(c, pkt, n) != 0) goto fail;
  // CONNACK: 4 bytes, behind a 2-byte frame header on WebSocket (server frames are not masked).
  uint8_t ack[6];
  size_t want = g_opt.transport == T_TLS ? 4 : 6;
  if (read_exact(c, ack, want) != 0) goto fail;
  const uint8_t *p = ack + (want - 4);
  if (p[0] != 0x20 || p[3] != 0) goto fail;
  return 0;
fail:
  ERR_clear_error();
  conn_close(c);
  return -1;
}

// ---------------------------------------------------------------- modes

static void *run_handshakes(worker_t *w) {
  SSL_SESSION *session = NULL;
  char id[64];
  uint64_t k = 0;
  while (!stopping() && mono_ns() < g_end) {
    snprintf(id, sizeof id, "tls-%d-%llu", w->index, (unsigned long long)k++);
    conn_t c;
    int resumed = 0;
    int rc = conn_open(&c, id, g_opt.resume ? session : NULL, &resumed);
    uint64_t now = mono_ns();
    int counted = now >= g_warm_end && now < g_end;
    if (rc != 0) {
      if (counted) w->errors++;
      continue;
    }
    if (counted) {
      w->handshakes++;
      w->resumed += (uint64_t)resumed;
    }
    // The session to resume next: the newest one the server gave (TLS 1.3 tickets arrive with the
    // first reads after the handshake, so after CONNACK they are in).
    if (g_opt.resume && c.ssl) {
      SSL_SESSION *s = SSL_get1_session(c.ssl);
      if (s && SSL_SESSION_is_resumable(s)) {
        if (session) SSL_SESSION_free(session);
        session = s;
      } else if (s) {
        SSL_SESSION_free(s);
      }
    }
    conn_close(&c);
  }
  if (session) SSL_SESSION_free(session);
  return NULL;
}

static void *run_throughput(worker_t *w) {
  char id[64];
  snprintf(id, sizeof id, "tls-tp-%d", w->index);
  conn_t c;
  if (conn_open(&c, id, NULL, NULL) != 0) { w->errors++; return NULL; }
  while (!stopping() && mono_ns() < g_end) {
    if (io_write(&c, g_batch, g_batch_len) != 0) { w->errors++; break; }
    w->bytes += g_batch_mqtt;
  }
  conn_close(&c);
  return NULL;
}

static void *run_idle(worker_t *w) {
  char id[64];
  for (long i = 0; i < w->nheld && !stopping(); i++) {
    snprintf(id, sizeof id, "idle-%d-%ld", w->index, i);
    if (conn_open(&w->held[w->opened], id, NULL, NULL) == 0) w->opened++;
    else w->errors++;
  }
  return NULL;
}

static void *worker_main(void *arg) {
  worker_t *w = arg;
  switch (g_opt.mode) {
    case M_HANDSHAKES: return run_handshakes(w);
    case M_THROUGHPUT: return run_throughput(w);
    default: return run_idle(w);
  }
}

// ---------------------------------------------------------------- flags and main

static double parse_seconds(const char *flag, const char *v) {
  char *end;
  double d = strtod(v, &end);
  if (end == v || *end || !(d > 0) || d > 3600) usage_error("bad number of seconds", flag);
  return d;
}

static long parse_count(const char *flag, const char *v, long max) {
  long n;
  if (parse_long_in(v, 1, max, &n) != 0) usage_error("bad count", flag);
  return n;
}

static void parse_args(int argc, char **argv) {
  if (argc < 2) usage_error(NULL, NULL);
  if (!strcmp(argv[1], "handshakes")) g_opt.mode = M_HANDSHAKES;
  else if (!strcmp(argv[1], "throughput")) g_opt.mode = M_THROUGHPUT;
  else if (!strcmp(argv[1], "idle")) g_opt.mode = M_IDLE;
  else usage_error("unknown mode", argv[1]);
  int have_target = 0;
  for (int i = 2; i < argc; i++) {
    char name[32];
    const char *v = flag_split(argv[i], name, sizeof name);
    const char *flag = v ? name : argv[i];
    if (!strcmp(flag, "--resume")) { g_opt.resume = 1; continue; }
    if (!strcmp(flag, "--marks")) { g_opt.marks = 1; continue; }
    if (!v) {
      if (i + 1 >= argc) usage_error("missing value", flag);
      v = argv[++i];
    }
    if (!strcmp(flag, "--target")) {
      char host[64];
      const char *port = split_host_port(v, host, sizeof host);
      uint32_t addr;
      long p;
      if (!port || parse_loopback(host, &addr) != 0 || parse_long_in(port, 1, 65535, &p) != 0)
        usage_error("--target must be 127.x.y.z:PORT", v);
      g_opt.target.sin_family = AF_INET;
      g_opt.target.sin_addr.s_addr = htonl(addr);
      g_opt.target.sin_port = htons((uint16_t)p);
      have_target = 1;
    } else if (!strcmp(flag, "--transport")) {
      if (!strcmp(v, "tls")) g_opt.transport = T_TLS;
      else if (!strcmp(v, "ws")) g_opt.transport = T_WS;
      else if (!strcmp(v, "wss")) g_opt.transport = T_WSS;
      else usage_error("--transport is tls, ws or wss", v);
    } else if (!strcmp(flag, "--sources")) {
      if (parse_source_range(v, &g_opt.src_first, &g_opt.src_count) != 0)
        usage_error("--sources must be A-B with 127.x.y.z addresses, A <= B", v);
    } else if (!strcmp(flag, "--path")) {
      if (v[0] != '/' || strlen(v) > 200) usage_error("--path must start with / (200 characters at most)", v);
      g_opt.path = v;
    } else if (!strcmp(flag, "--threads")) g_opt.threads = parse_count(flag, v, MAX_THREADS);
    else if (!strcmp(flag, "--conns")) g_opt.conns = parse_count(flag, v, 100000);
    else if (!strcmp(flag, "--size")) g_opt.size = parse_count(flag, v, MAX_SIZE);
    else if (!strcmp(flag, "--seconds")) g_opt.seconds = parse_seconds(flag, v);
    else if (!strcmp(flag, "--warmup")) g_opt.warmup = parse_seconds(flag, v);
    else if (!strcmp(flag, "--hold-seconds")) g_opt.hold_seconds = parse_seconds(flag, v);
    else usage_error("unknown flag", flag);
  }
  if (!have_target) usage_error("--target is required", NULL);
  if (g_opt.resume && (g_opt.mode != M_HANDSHAKES || g_opt.transport == T_WS))
    usage_error("--resume is for handshakes over tls or wss", NULL);
  if (g_opt.mode == M_THROUGHPUT && g_opt.conns > MAX_THREADS) usage_error("throughput: at most 256 --conns", NULL);
}

static void print_mark(const char *phase) {
  printf("{\"type\":\"window\",\"phase\":\"%s\",\"time_ns\":%llu}\n", phase, (unsigned long long)mono_ns());
  fflush(stdout);
}

static void sleep_until(uint64_t t_ns) {
  for (uint64_t now = mono_ns(); now < t_ns && !stopping(); now = mono_ns()) {
    uint64_t left = t_ns - now;
    struct timespec ts = { .tv_sec = (time_t)(left / 1000000000ull), .tv_nsec = (long)(left % 1000000000ull) };
    nanosleep(&ts, NULL);
  }
}

int main(int argc, char **argv) {
  parse_args(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  struct rlimit rl;
  nofile_raise(&rl);
  if (g_opt.mode == M_IDLE && (unsigned long long)g_opt.conns + 32 > (unsigned long long)rl.rlim_cur) {
    fprintf(stderr, "tlsgen: %ld connections need more open files than the limit (%llu)\n", g_opt.conns,
            (unsigned long long)rl.rlim_cur);
    return 2;
  }
  g_ctx = SSL_CTX_new(TLS_client_method());
  if (!g_ctx) { fprintf(stderr, "tlsgen: SSL_CTX_new failed\n"); return 1; }
  SSL_CTX_set_verify(g_ctx, SSL_VERIFY_NONE, NULL);
  SSL_CTX_set_session_cache_mode(g_ctx, SSL_SESS_CACHE_OFF); // sessions are kept by hand, per thread
  SSL_CTX_set_mode(g_ctx, SSL_MODE_RELEASE_BUFFERS);         // idle: the client's memory stays small

  if (g_opt.mode == M_THROUGHPUT) {
    uint8_t *one = malloc((size_t)g_opt.size + 64);
    if (!one) return 1;
    size_t plen = build_publish(one, (size_t)g_opt.size);
    size_t count = BATCH_MIN_BYTES / plen + 1;
    g_batch_len = count * plen;
    uint8_t tmp[5];
    g_pkt_mqtt = 1 + put_varint(tmp, (uint32_t)(2 + TOPIC_LEN + g_opt.size)) + 2 + TOPIC_LEN + (size_t)g_opt.size;
    g_batch_mqtt = count * g_pkt_mqtt;
    g_batch = malloc(g_batch_len);
    if (!g_batch) return 1;
    for (size_t i = 0; i < count; i++) memcpy(g_batch + i * plen, one, plen);
    free(one);
  }

  uint64_t t0 = mono_ns();
  g_warm_end = t0 + (uint64_t)(g_opt.warmup * 1e9);
  g_end = g_warm_end + (uint64_t)(g_opt.seconds * 1e9);
  int nthreads = (int)(g_opt.mode == M_THROUGHPUT ? g_opt.conns : g_opt.threads);
  if (g_opt.mode == M_IDLE && nthreads > g_opt.conns) nthreads = (int)g_opt.conns;
  worker_t *workers = calloc((size_t)nthreads, sizeof *workers);
  if (!workers) return 1;
  for (int t = 0; t < nthreads; t++) {
    worker_t *w = &workers[t];
    w->index = t;
    if (g_opt.mode == M_IDLE) {
      w->nheld = g_opt.conns / nthreads + (t < g_opt.conns % nthreads ? 1 : 0);
      w->held = calloc((size_t)w->nheld, sizeof *w->held);
      if (!w->held) return 1;
    }
    // Small stacks: the threads only hold a few local buffers.
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    if (pthread_create(&w->tid, &attr, worker_main, w) != 0) { fprintf(stderr, "tlsgen: cannot start thread %d\n", t); return 1; }
    pthread_attr_destroy(&attr);
  }

  if (g_opt.mode == M_IDLE) {
    uint64_t opened = 0, errors = 0;
    for (int t = 0; t < nthreads; t++) {
      pthread_join(workers[t].tid, NULL);
      opened += (uint64_t)workers[t].opened;
      errors += workers[t].errors;
    }
    printf("{\"type\":\"idle-ready\",\"conns\":%llu,\"errors\":%llu}\n", (unsigned long long)opened, (unsigned long long)errors);
    fflush(stdout);
    // Hold until stdin says done (a line or EOF) or --hold-seconds pass.
    struct pollfd pf = { .fd = 0, .events = POLLIN };
    poll(&pf, 1, (int)(g_opt.hold_seconds * 1000));
    for (int t = 0; t < nthreads; t++)
      for (long i = 0; i < workers[t].opened; i++) conn_close(&workers[t].held[i]);
    printf("{\"type\":\"idle-done\"}\n");
    return 0;
  }

  if (g_opt.marks) {
    sleep_until(g_warm_end);
    print_mark("start");
    sleep_until(g_end);
    print_mark("end");
  }
  uint64_t handshakes = 0, resumed = 0, errors = 0, bytes = 0;
  for (int t = 0; t < nthreads; t++) {
    pthread_join(workers[t].tid, NULL);
    handshakes += workers[t].handshakes;
    resumed += workers[t].resumed;
    errors += workers[t].errors;
    bytes += workers[t].bytes;
  }
  if (g_opt.mode == M_HANDSHAKES)
    printf("{\"type\":\"handshakes\",\"handshakes\":%llu,\"resumed\":%llu,\"errors\":%llu,\"seconds\":%.6f}\n",
           (unsigned long long)handshakes, (unsigned long long)resumed, (unsigned long long)errors, g_opt.seconds);
  else
    printf("{\"type\":\"throughput\",\"conns\":%ld,\"bytes\":%llu,\"messages\":%llu,\"errors\":%llu}\n", g_opt.conns,
           (unsigned long long)bytes, (unsigned long long)(bytes / g_pkt_mqtt), (unsigned long long)errors);
  return 0;
}
