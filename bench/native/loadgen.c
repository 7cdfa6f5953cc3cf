// loadgen: MQTT load generator for the Sluice bench: throughput, connection rate, latency and idle connections.
//
// Linux only. Each thread runs its own epoll loop over its share of the connections; the main thread
// owns stdout, signals (signalfd) and, in idle mode, stdin. Every run is bounded by time.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "common.h"


#define MAX_THREADS 64
#define NS_PER_SEC 1000000000ull
#define CONNECT_TIMEOUT_NS (5 * NS_PER_SEC)  // per connection: TCP connect, then CONNECT -> CONNACK
#define ESTABLISH_LIMIT_NS (120 * NS_PER_SEC) // whole establish phase (throughput, latency, idle)
#define DRAIN_NS (2 * NS_PER_SEC)             // latency: wait this long for the last echoes
#define FD_MARGIN 32                          // fds besides connections: stdio, epoll, timerfd, signalfd, file
#define ESTABLISH_INFLIGHT 256                // connections being opened at once (whole process)
#define TOPIC "bench/t"
#define TOPIC_LEN 7
#define MAX_SIZE (16 * 1024 * 1024)
#define BATCH_MIN_BYTES (256 * 1024)          // throughput: prebuilt run of packets handed to send()
#define SENDS_PER_EVENT 8
#define SMALL_SENDS_PER_EVENT 32              // throughput --per-write: small sends, fewer epoll rounds per byte
#define EPOLL_BATCH 256
#define CONNACK_MAX 64
#define SCRATCH_BYTES (64 * 1024)
#define TX_MAX_BYTES (1024 * 1024)            // latency: per-connection send queue, at most
#define QUEUES_TOTAL_BYTES (64u * 1024 * 1024) // latency: send + receive queues of all connections, at most
#define RX_MIN_BYTES 4096                     // latency: per-connection receive room beyond two packets
#define MAX_SAMPLES_PER_THREAD (64u * 1024 * 1024)
#define TIMEOUT_SCAN_NS (100 * 1000000ull)

enum { M_NONE, M_THROUGHPUT, M_CONNRATE, M_LATENCY, M_IDLE };
enum { S_EMPTY, S_CONNECTING, S_WAIT_CONNACK, S_READY, S_FAILED, S_CLOSED };

// Flags, as bits, so each subcommand can reject the ones it does not use.
enum {
  F_TARGET = 1 << 0, F_SECONDS = 1 << 1, F_THREADS = 1 << 2, F_SOURCES = 1 << 3, F_CONNS = 1 << 4,
  F_SIZE = 1 << 5, F_WARMUP = 1 << 6, F_INFLIGHT = 1 << 7, F_IDS = 1 << 8, F_PREFIX = 1 << 9,
  F_LATOUT = 1 << 10, F_VERSION = 1 << 11, F_RATE = 1 << 12, F_HOLD = 1 << 13, F_PERWRITE = 1 << 14,
  F_MARKS = 1 << 15, F_TICK = 1 << 16,
};

typedef struct {
  int fd;
  uint8_t state;
  uint8_t rxlen;
  uint8_t rx[CONNACK_MAX];
  uint32_t events;
  uint32_t gindex;     // connection number in the whole process (idle ids)
  uint64_t t_ns;       // start of the current phase: TCP connect, then CONNECT sent
  uint64_t off;        // throughput: PUBLISH stream bytes accepted by send()
  uint64_t base_off;   // throughput: stream offset when measuring started
  uint8_t *tx;         // latency: send queue [txh, txt)
  uint32_t txh, txt, txcap;
  uint8_t *rb;         // latency: receive buffer [0, rbl)
  uint32_t rbl, rbcap;
} conn_t;

typedef struct {
  int index;
  pthread_t tid;
  int epfd;
  uint32_t nconns;
  uint32_t gbase;
  conn_t *conns;
  double rate_per_sec; // latency: this thread's share of --rate
  // results, read by main after join
  uint64_t connect_errors, errors, connections, bytes, messages, sent, received, skipped, lost, disconnects;
  uint64_t sends; // throughput: send() calls that moved bytes during the window
  uint64_t window_ns;
  uint32_t *samples;
  size_t nsamples, capsamples;
  uint64_t samples_dropped;
  uint8_t scratch[SCRATCH_BYTES];
} worker_t;

static struct {
  int mode;
  unsigned given;
  struct sockaddr_in target;
  double seconds, warmup, hold_seconds, rate;
  long threads, conns, size, inflight, ids, version;
  long per_write; // throughput: whole packets per send() (0: as many as the socket takes)
  int marks;      // latency: print window start/end lines when they happen
  long tick_us;   // latency: timer tick, at least; each tick sends what is due (default 50)
  const char *prefix;
  const char *latency_out;
  uint32_t src_first, src_count; // host order
} g_opt = { .threads = 1, .version = 4, .prefix = "c-", .hold_seconds = 600, .conns = -1, .size = -1, .tick_us = 50 };

static worker_t *g_workers;
static int g_nthreads;
// Cross-thread flags. g_stop: relaxed, a flag polled every loop iteration that guards no data.
// g_ready / g_done: release on increment, acquire on read, so the worker's counters are visible.
// g_go: release by main after writing g_t0/g_warm_end/g_end; acquire by workers before reading them.
static int g_stop, g_ready, g_done, g_go;
static uint64_t g_t0, g_warm_end, g_end;
static uint64_t g_id_counter, g_src_counter; // relaxed fetch-add: only uniqueness/rotation matters

static uint8_t *g_batch;      // throughput: many identical PUBLISH packets back to back
static size_t g_batch_len, g_pkt_len;
static size_t g_group_len;    // throughput --per-write: bytes of one send() (N whole packets); 0 = unlimited
static uint8_t *g_lat_pkt;    // latency: one PUBLISH template; the payload starts with a timestamp
static size_t g_lat_ts_off;

static const char usage_text[] =
    "usage: loadgen <subcommand> --target 127.x.y.z:PORT [flags]\n"
    "\n"
    "Subcommands:\n"
    "  throughput --conns C --size S --seconds T [--warmup W] [--per-write N]\n"
    "      C connections stream QoS 0 PUBLISH (topic bench/t, S-byte payload) as fast as the sockets take;\n"
    "      with --per-write, each send() carries at most N whole packets (many small writes).\n"
    "      -> {\"type\":\"throughput\",\"conns\":C,\"size\":S,\"per_write\":N,\"seconds\":T,\"bytes\":N,\n"
    "          \"messages\":N,\"sends\":N,\"connect_errors\":N,\"disconnects\":N}\n"
    "  connrate --inflight K --seconds T --ids N [--id-prefix P] [--latency-out FILE] [--version 4|5]\n"
    "           [--warmup W] [--marks]\n"
    "      K connections in flight: TCP connect, CONNECT (id P<j>, j cycles 0..N-1), CONNACK, DISCONNECT,\n"
    "      close, again. Latency = CONNECT sent -> CONNACK received. Connections completed during the first\n"
    "      W seconds are made but not counted; --marks as for latency.\n"
    "      -> {\"type\":\"connrate\",\"connections\":N,\"errors\":N,\"seconds\":T,\"samples\":N}\n"
    "  latency --rate R --size S --seconds T [--conns C] [--warmup W] [--tick-us U] [--latency-out FILE] [--marks]\n"
    "      C connections (default 1) to an echo backend; R PUBLISH/s in total, paced, round-robin over the\n"
    "      connections; RTT per message. Messages sent during the warmup are echoed but not counted.\n"
    "      The pacing timer ticks at the message interval, but no faster than every U us (default 50).\n"
    "      --marks prints {\"type\":\"window\",\"phase\":\"start\"|\"end\",\"time_ns\":N} as the window opens/closes.\n"
    "      -> {\"type\":\"latency\",\"sent\":N,\"received\":N,\"seconds\":T,\"samples\":N,\"connect_errors\":N,\n"
    "          \"skipped\":N}\n"
    "  idle --conns N [--hold-seconds H]\n"
    "      Open N connections (ids idle-<i>, 256 opening at once), then hold them until H seconds pass\n"
    "      (default 600), a line or EOF on stdin, or SIGTERM/SIGINT; then DISCONNECT and close all.\n"
    "      -> {\"type\":\"idle-ready\",\"conns\":N,\"errors\":N} ... {\"type\":\"idle-done\",\"lost\":N}\n"
    "\n"
    "Common flags:\n"
    "  --target H:P        broker or balancer address; H must be 127.x.y.z\n"
    "  --threads N         threads, each with its own epoll; connections divided among them (default 1)\n"
    "  --sources A-B       bind client sockets to local addresses A..B (127.x.y.z), round-robin\n"
    "                      (IP_BIND_ADDRESS_NO_PORT), so ports and TIME_WAIT spread over many addresses\n"
    "  --version 4|5       MQTT 3.1.1 (default) or 5.0 CONNECT\n"
    "  --seconds T         measured duration (float); --warmup W is sent first and not counted\n"
    "  --latency-out FILE  write every latency sample as little-endian uint32 microseconds (truncates FILE)\n"
    "\n"
    "All CONNECTs use clean session and keepalive 0. Output: one JSON object per line on stdout; the\n"
    "\"seconds\" fields are measured windows. Messages on stderr. Exit 2 on bad flags or when the\n"
    "connections cannot fit in the open-file limit. SIGTERM/SIGINT end a run early (results still printed).\n";

static void usage_error(const char *msg, const char *arg) { usage_exit("loadgen", usage_text, msg, arg); }

static int stopping(void) { return __atomic_load_n(&g_stop, __ATOMIC_RELAXED); }

// ---------------------------------------------------------------- MQTT bytes

// Writes a CONNECT (clean session, keepalive 0) for `id` into out (>= 32 + idlen bytes); returns its length.
static size_t build_connect(uint8_t *out, const char *id, size_t idlen) {
  uint8_t body[300];
  size_t n = 0;
  static const uint8_t name[6] = { 0, 4, 'M', 'Q', 'T', 'T' };
  memcpy(body, name, 6);
  n = 6;
  body[n++] = (uint8_t)g_opt.version;
  body[n++] = 0x02;  // clean session / clean start
  body[n++] = 0;     // keepalive 0: no PINGREQ needed
  body[n++] = 0;
  if (g_opt.version == 5) body[n++] = 0; // no properties
  body[n++] = (uint8_t)(idlen >> 8);
  body[n++] = (uint8_t)idlen;
  memcpy(body + n, id, idlen);
  n += idlen;
  out[0] = 0x10;
  size_t h = 1 + put_varint(out + 1, (uint32_t)n);
  memcpy(out + h, body, n);
  return h + n;
}

// One QoS 0 PUBLISH on TOPIC with a zeroed `size`-byte payload; *payload_off = where the payload starts.
static size_t build_publish(uint8_t *out, size_t size, size_t *payload_off) {
  uint32_t rl = (uint32_t)(2 + TOPIC_LEN + size);
  out[0] = 0x30;
  size_t h = 1 + put_varint(out + 1, rl);
  out[h] = 0;
  out[h + 1] = TOPIC_LEN;
  memcpy(out + h + 2, TOPIC, TOPIC_LEN);
  memset(out + h + 2 + TOPIC_LEN, 0, size);
  if (payload_off) *payload_off = h + 2 + TOPIC_LEN;
  return h + rl;
}

static size_t publish_len(size_t size) {
  uint8_t tmp[5];
  return 1 + put_varint(tmp, (uint32_t)(2 + TOPIC_LEN + size)) + 2 + TOPIC_LEN + size;
}

// ---------------------------------------------------------------- connection setup

static void sample_push(worker_t *w, uint64_t ns) {
  uint64_t us = ns / 1000;
  if (us > UINT32_MAX) us = UINT32_MAX;
  if (w->nsamples == w->capsamples) {
    if (w->capsamples >= MAX_SAMPLES_PER_THREAD) { w->samples_dropped++; return; }
    size_t ncap = w->capsamples ? w->capsamples * 2 : 65536;
    uint32_t *ns_ = realloc(w->samples, ncap * sizeof *ns_);
    if (!ns_) { w->samples_dropped++; return; }
    w->samples = ns_;
    w->capsamples = ncap;
  }
  w->samples[w->nsamples++] = (uint32_t)us;
}

static void conn_close(worker_t *w, conn_t *c, uint8_t state) {
  if (c->fd >= 0) {
    epoll_ctl(w->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
  }
  c->fd = -1;
  c->state = state;
}

static int set_interest(worker_t *w, conn_t *c, uint32_t events) {
  if (events == c->events) return 0;
  struct epoll_event ev = { .events = events, .data.ptr = c };
  if (epoll_ctl(w->epfd, EPOLL_CTL_MOD, c->fd, &ev) != 0) return -1;
  c->events = events;
  return 0;
}

static int send_connect(worker_t *w, conn_t *c) {
  char id[128];
  int idlen;
  if (g_opt.mode == M_CONNRATE) {
    // j cycles over 0..N-1 across all threads, so each id comes back every N connections.
    uint64_t j = __atomic_fetch_add(&g_id_counter, 1, __ATOMIC_RELAXED) % (uint64_t)g_opt.ids;
    idlen = snprintf(id, sizeof id, "%s%llu", g_opt.prefix, (unsigned long long)j);
  } else if (g_opt.mode == M_IDLE) {
    idlen = snprintf(id, sizeof id, "idle-%u", c->gindex);
  } else {
    idlen = snprintf(id, sizeof id, "%s-%d-%u", g_opt.mode == M_THROUGHPUT ? "tp" : "lat", w->index, c->gindex - w->gbase);
  }
  uint8_t pkt[200];
  size_t n = build_connect(pkt, id, (size_t)idlen);
  ssize_t k = send(c->fd, pkt, n, MSG_NOSIGNAL);
  if (k != (ssize_t)n) return -1; // a fresh socket always takes a small CONNECT whole
  c->t_ns = mono_ns();
  c->state = S_WAIT_CONNACK;
  return 0;
}

// Opens a non-blocking TCP connection (bound to the next --sources address) and registers it.
static int start_conn(worker_t *w, conn_t *c) {
  c->rxlen = 0;
  c->t_ns = mono_ns();
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (g_opt.src_count && bind_next_source(fd, g_opt.src_first, g_opt.src_count, &g_src_counter) != 0) { close(fd); return -1; }
  int r = connect(fd, (struct sockaddr *)&g_opt.target, sizeof g_opt.target);
  if (r != 0 && errno != EINPROGRESS) { close(fd); return -1; }
  c->fd = fd;
  if (r == 0) {
    if (send_connect(w, c) != 0) { close(fd); c->fd = -1; return -1; }
    c->events = EPOLLIN;
  } else {
    c->state = S_CONNECTING;
    c->events = EPOLLOUT;
  }
  struct epoll_event ev = { .events = c->events, .data.ptr = c };
  if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) { close(fd); c->fd = -1; return -1; }
  return 0;
}

// Advances a connection that is connecting or waiting for CONNACK. Ends in S_READY, S_FAILED (closed),
// or the same state (need more).
static void setup_event(worker_t *w, conn_t *c, uint32_t ev) {
  if (c->state == S_CONNECTING) {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err || (ev & (EPOLLERR | EPOLLHUP))) {
      conn_close(w, c, S_FAILED);
      return;
    }
    if (!(ev & EPOLLOUT)) return;
    if (send_connect(w, c) != 0 || set_interest(w, c, EPOLLIN) != 0) conn_close(w, c, S_FAILED);
    return;
  }
  if (c->state != S_WAIT_CONNACK) return;
  ssize_t n = recv(c->fd, c->rx + c->rxlen, CONNACK_MAX - c->rxlen, 0);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) && !(ev & (EPOLLERR | EPOLLHUP))) return;
  if (n <= 0) { conn_close(w, c, S_FAILED); return; }
  c->rxlen += (uint8_t)n;
  if (c->rx[0] != 0x20) { conn_close(w, c, S_FAILED); return; }
  uint32_t hlen, rl;
  int r = fixed_header(c->rx, c->rxlen, &hlen, &rl);
  if (r < 0 || (r > 0 && (rl < 2 || hlen + rl > CONNACK_MAX))) { conn_close(w, c, S_FAILED); return; }
  if (r == 0 || c->rxlen < hlen + rl) {
    if (c->rxlen == CONNACK_MAX) conn_close(w, c, S_FAILED);
    return;
  }
  // CONNACK: flags byte, then return code (3.1.1) / reason code (5.0); anything but 0 is a refusal.
  if (c->rx[hlen + 1] != 0) { conn_close(w, c, S_FAILED); return; }
  c->state = S_READY;
}

static int in_setup(const conn_t *c) { return c->state == S_CONNECTING || c->state == S_WAIT_CONNACK; }

// Opens all of this thread's connections, at most `max_inflight` at once. Failures count as connect_errors.
static void establish(worker_t *w, uint32_t max_inflight) {
  struct epoll_event evs[EPOLL_BATCH];
  uint64_t start = mono_ns(), last_scan = start;
  uint32_t next = 0, settled = 0, inflight = 0;
  while (settled < w->nconns && !stopping()) {
    uint64_t now = mono_ns();
    if (now - start >= ESTABLISH_LIMIT_NS) break;
    while (inflight < max_inflight && next < w->nconns) {
      conn_t *c = &w->conns[next++];
      if (start_conn(w, c) != 0) { c->state = S_FAILED; w->connect_errors++; settled++; }
      else if (c->state == S_READY) settled++;
      else inflight++;
    }
    int n = epoll_wait(w->epfd, evs, EPOLL_BATCH, 50);
    for (int i = 0; i < n; i++) {
      conn_t *c = evs[i].data.ptr;
      if (c->state == S_READY) {
        // Already established: nothing should arrive; a close here means the connection is gone.
        ssize_t k = recv(c->fd, w->scratch, sizeof w->scratch, 0);
        if (k == 0 || (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
          conn_close(w, c, S_FAILED);
          w->connect_errors++;
        }
        continue;
      }
      if (!in_setup(c)) continue;
      setup_event(w, c, evs[i].events);
      if (c->state == S_READY) { settled++; inflight--; }
      else if (c->state == S_FAILED) { settled++; inflight--; w->connect_errors++; }
    }
    now = mono_ns();
    if (now - last_scan >= TIMEOUT_SCAN_NS) {
      last_scan = now;
      for (uint32_t i = 0; i < next; i++) {
        conn_t *c = &w->conns[i];
        if (in_setup(c) && now - c->t_ns >= CONNECT_TIMEOUT_NS) {
          conn_close(w, c, S_FAILED);
          settled++;
          inflight--;
          w->connect_errors++;
        }
      }
    }
  }
  // Stopped or out of time: whatever is not established by now counts as a connect error.
  for (uint32_t i = 0; i < w->nconns; i++) {
    conn_t *c = &w->conns[i];
    if (c->state == S_READY || c->state == S_FAILED) continue;
    conn_close(w, c, S_FAILED);
    w->connect_errors++;
  }
}

static void announce_ready(void) { __atomic_fetch_add(&g_ready, 1, __ATOMIC_RELEASE); }

// Waits for main's go signal (or stop). Bounded: main always sets one of the two.
static int wait_go(void) {
  while (!__atomic_load_n(&g_go, __ATOMIC_ACQUIRE)) {
    if (stopping()) return -1;
    usleep(200);
  }
  return stopping() ? -1 : 0;
}

static void send_disconnect_and_close(worker_t *w, conn_t *c) {
  static const uint8_t disconnect[2] = { 0xe0, 0x00 };
  if (c->fd >= 0) (void)!send(c->fd, disconnect, 2, MSG_NOSIGNAL | MSG_DONTWAIT);
  conn_close(w, c, S_CLOSED);
}

// ---------------------------------------------------------------- throughput

static void run_throughput(worker_t *w) {
  establish(w, ESTABLISH_INFLIGHT / (uint32_t)g_nthreads + 1);
  for (uint32_t i = 0; i < w->nconns; i++) {
    conn_t *c = &w->conns[i];
    if (c->state == S_READY && set_interest(w, c, EPOLLIN | EPOLLOUT) != 0) { conn_close(w, c, S_FAILED); w->connect_errors++; }
  }
  announce_ready();
  if (wait_go() != 0) goto done;
  struct epoll_event evs[EPOLL_BATCH];
  int measuring = g_warm_end <= g_t0;
  uint64_t meas_start = g_t0, now = mono_ns();
  while (!stopping()) {
    now = mono_ns();
    if (!measuring && now >= g_warm_end) {
      for (uint32_t i = 0; i < w->nconns; i++) w->conns[i].base_off = w->conns[i].off;
      measuring = 1;
      meas_start = now;
    }
    if (now >= g_end) break;
    uint64_t next = measuring ? g_end : g_warm_end;
    int timeout_ms = (int)((next - now) / 1000000ull) + 1;
    if (timeout_ms > 10) timeout_ms = 10;
    int n = epoll_wait(w->epfd, evs, EPOLL_BATCH, timeout_ms);
    for (int i = 0; i < n; i++) {
      conn_t *c = evs[i].data.ptr;
      uint32_t e = evs[i].events;
      if (c->fd < 0) continue;
      int dead = 0;
      if (e & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
        // Nothing is expected back; discard whatever comes (an echo backend) so the peer never stalls.
        ssize_t k = recv(c->fd, w->scratch, sizeof w->scratch, 0);
        if (k == 0 || (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) dead = 1;
      }
      if (!dead && (e & EPOLLOUT)) {
        int rounds = g_group_len ? SMALL_SENDS_PER_EVENT : SENDS_PER_EVENT;
        for (int s = 0; s < rounds; s++) {
          size_t pos = (size_t)(c->off % g_batch_len);
          size_t len = g_batch_len - pos;
          // --per-write: up to the end of the current group of N packets (the batch is whole groups, so
          // a short send is completed by the next one and every later send starts on a group boundary).
          if (g_group_len && len > g_group_len - pos % g_group_len) len = g_group_len - pos % g_group_len;
          ssize_t k = send(c->fd, g_batch + pos, len, MSG_NOSIGNAL);
          if (k < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            if (errno == EINTR) continue;
            dead = 1;
            break;
          }
          c->off += (uint64_t)k;
          if (measuring) w->sends++;
          if ((size_t)k < len) break;
        }
      }
      if (dead) { conn_close(w, c, S_CLOSED); w->disconnects++; }
    }
  }
  if (!measuring) meas_start = now; // stopped during warmup: nothing measured
  w->window_ns = now > meas_start ? now - meas_start : 0;
  for (uint32_t i = 0; i < w->nconns; i++) {
    conn_t *c = &w->conns[i];
    if (!measuring) c->base_off = c->off;
    w->bytes += c->off - c->base_off;
    // Whole packets only: the stream is periodic with the packet length, starting right after CONNECT.
    w->messages += c->off / g_pkt_len - c->base_off / g_pkt_len;
  }
done:
  // A packet may be cut mid-way, so no DISCONNECT here; close() still delivers every byte sent.
  for (uint32_t i = 0; i < w->nconns; i++) conn_close(w, &w->conns[i], S_CLOSED);
}

// ---------------------------------------------------------------- connection rate

static void run_connrate(worker_t *w) {
  announce_ready();
  if (wait_go() != 0) return;
  struct epoll_event evs[EPOLL_BATCH];
  uint64_t now = mono_ns(), last_scan = now;
  for (uint32_t i = 0; i < w->nconns; i++) { w->conns[i].state = S_EMPTY; w->conns[i].fd = -1; }
  while (!stopping()) {
    now = mono_ns();
    if (now >= g_end) break;
    int start_failed = 0;
    for (uint32_t i = 0; i < w->nconns; i++) {
      conn_t *c = &w->conns[i];
      if (c->state != S_EMPTY) continue;
      if (start_conn(w, c) != 0) { w->errors++; start_failed = 1; }
    }
    int timeout_ms = (int)((g_end - now) / 1000000ull) + 1;
    if (timeout_ms > 10) timeout_ms = 10;
    if (start_failed) timeout_ms = 1; // e.g. EADDRNOTAVAIL: retry soon, but do not spin
    int n = epoll_wait(w->epfd, evs, EPOLL_BATCH, timeout_ms);
    for (int i = 0; i < n; i++) {
      conn_t *c = evs[i].data.ptr;
      if (!in_setup(c)) continue;
      setup_event(w, c, evs[i].events);
      if (c->state == S_READY) {
        uint64_t done_ns = mono_ns();
        // --warmup: connections completed before the window opens are made but not counted.
        if (done_ns >= g_warm_end) {
          sample_push(w, done_ns - c->t_ns);
          w->connections++;
        }
        send_disconnect_and_close(w, c);
      } else if (c->state == S_FAILED) {
        w->errors++;
      } else {
        continue;
      }
      c->state = S_EMPTY;
      if (mono_ns() < g_end && start_conn(w, c) != 0) w->errors++; // refill the slot at once
    }
    now = mono_ns();
    if (now - last_scan >= TIMEOUT_SCAN_NS) {
      last_scan = now;
      for (uint32_t i = 0; i < w->nconns; i++) {
        conn_t *c = &w->conns[i];
        if (in_setup(c) && now - c->t_ns >= CONNECT_TIMEOUT_NS) {
          conn_close(w, c, S_EMPTY);
          w->errors++;
        }
      }
    }
  }
  w->window_ns = now > g_warm_end ? now - g_warm_end : 0;
  // Connections still opening when time is up are abandoned: neither counted nor errors.
  for (uint32_t i = 0; i < w->nconns; i++) conn_close(w, &w->conns[i], S_CLOSED);
}

// ---------------------------------------------------------------- latency

static int tx_flush(worker_t *w, conn_t *c) {
  if (send_pending(c->fd, c->tx, &c->txh, &c->txt) != 0) return -1;
  return set_interest(w, c, EPOLLIN | (c->txh < c->txt ? EPOLLOUT : 0));
}

// Reads echoed bytes and turns every complete PUBLISH into one RTT sample. Returns -1 if the connection ended.
static int lat_read(worker_t *w, conn_t *c) {
  if (c->rbl == c->rbcap) return -1; // cannot happen with our own packets: rbcap > 2 packets
  ssize_t n = recv(c->fd, c->rb + c->rbl, c->rbcap - c->rbl, 0);
  if (n < 0) return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? 0 : -1;
  if (n == 0) return -1;
  uint64_t now = mono_ns();
  c->rbl += (uint32_t)n;
  uint32_t p = 0;
  while (c->rbl - p >= 2) {
    uint32_t hlen, rl;
    int r = fixed_header(c->rb + p, c->rbl - p, &hlen, &rl);
    if (r < 0 || (r > 0 && hlen + rl > c->rbcap)) return -1;
    if (r == 0 || c->rbl - p < hlen + rl) break;
    const uint8_t *pkt = c->rb + p;
    if ((pkt[0] >> 4) == 3 && rl >= 2) {
      uint32_t tlen = ((uint32_t)pkt[hlen] << 8) | pkt[hlen + 1];
      uint32_t poff = hlen + 2 + tlen;
      if (poff + 8 <= hlen + rl) {
        uint64_t ts;
        memcpy(&ts, pkt + poff, 8);
        // Messages sent during the warmup come back too; only those sent in the window count.
        if (ts <= now && ts >= g_warm_end) { sample_push(w, now - ts); w->received++; }
      }
    }
    p += hlen + rl;
  }
  if (p > 0) {
    memmove(c->rb, c->rb + p, c->rbl - p);
    c->rbl -= p;
  }
  return 0;
}

// Sends the messages due by now (open loop: the schedule does not wait for replies).
static void lat_send_due(worker_t *w, uint64_t now, uint64_t *scheduled, uint32_t *rr) {
  uint64_t due = (uint64_t)((double)(now - g_t0) * w->rate_per_sec / 1e9) + 1;
  for (int guard = 0; *scheduled < due && guard < 100000; guard++) {
    conn_t *c = NULL;
    for (uint32_t k = 0; k < w->nconns && !c; k++) {
      conn_t *cand = &w->conns[(*rr + k) % w->nconns];
      if (cand->state == S_READY) { c = cand; *rr = (*rr + k + 1) % w->nconns; }
    }
    if (!c) return; // no live connection left
    (*scheduled)++;
    if (c->txt + g_pkt_len > c->txcap && c->txh > 0) {
      memmove(c->tx, c->tx + c->txh, c->txt - c->txh);
      c->txt -= c->txh;
      c->txh = 0;
    }
    uint64_t ts = mono_ns();
    int counted = ts >= g_warm_end;
    if (c->txt + g_pkt_len > c->txcap) { if (counted) w->skipped++; continue; } // the path is this far behind
    memcpy(c->tx + c->txt, g_lat_pkt, g_pkt_len);
    memcpy(c->tx + c->txt + g_lat_ts_off, &ts, 8);
    c->txt += (uint32_t)g_pkt_len;
    if (counted) w->sent++;
    if (tx_flush(w, c) != 0) { conn_close(w, c, S_CLOSED); w->disconnects++; }
  }
}

static void run_latency(worker_t *w) {
  int tfd = -1;
  establish(w, ESTABLISH_INFLIGHT / (uint32_t)g_nthreads + 1);
  for (uint32_t i = 0; i < w->nconns; i++) {
    conn_t *c = &w->conns[i];
    if (c->state != S_READY) continue;
    // Queues are bounded in total, so thousands of connections fit: each gets a share, at least room
    // for a few packets (a send queue that is full skips messages and counts them as skipped).
    size_t share = QUEUES_TOTAL_BYTES / 2 / (size_t)g_opt.conns;
    size_t txcap = share < TX_MAX_BYTES ? share : TX_MAX_BYTES;
    size_t rxroom = share < SCRATCH_BYTES ? (share > RX_MIN_BYTES ? share : RX_MIN_BYTES) : SCRATCH_BYTES;
    c->txcap = (uint32_t)(g_pkt_len * 4 > txcap ? g_pkt_len * 4 : txcap);
    c->rbcap = (uint32_t)(g_pkt_len * 2 + rxroom);
    c->tx = malloc(c->txcap);
    c->rb = malloc(c->rbcap);
    if (!c->tx || !c->rb || set_interest(w, c, EPOLLIN) != 0) { conn_close(w, c, S_FAILED); w->connect_errors++; }
  }
  tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  struct epoll_event tev = { .events = EPOLLIN, .data.ptr = NULL };
  if (tfd < 0 || epoll_ctl(w->epfd, EPOLL_CTL_ADD, tfd, &tev) != 0) {
    fprintf(stderr, "loadgen: timerfd: %s\n", strerror(errno));
    __atomic_store_n(&g_stop, 1, __ATOMIC_RELAXED);
  }
  announce_ready();
  if (wait_go() != 0 || w->rate_per_sec <= 0) goto done;
  // Tick at the message interval, but no faster than every --tick-us (50 us); each tick sends what is due.
  uint64_t interval_ns = (uint64_t)(1e9 / w->rate_per_sec);
  if (interval_ns < (uint64_t)g_opt.tick_us * 1000) interval_ns = (uint64_t)g_opt.tick_us * 1000;
  struct itimerspec its = { .it_interval = { (time_t)(interval_ns / NS_PER_SEC), (long)(interval_ns % NS_PER_SEC) },
                            .it_value = { 0, 1 } };
  timerfd_settime(tfd, 0, &its, NULL);
  struct epoll_event evs[EPOLL_BATCH];
  uint64_t scheduled = 0, drain_end = 0, now = mono_ns();
  uint32_t rr = 0;
  int draining = 0;
  while (!stopping()) {
    now = mono_ns();
    if (!draining && now >= g_end) {
      draining = 1;
      drain_end = now + DRAIN_NS;
      w->window_ns = now - g_warm_end;
      struct itimerspec off = { 0 };
      timerfd_settime(tfd, 0, &off, NULL);
    }
    if (draining && (w->received >= w->sent || now >= drain_end)) break;
    int n = epoll_wait(w->epfd, evs, EPOLL_BATCH, 10);
    for (int i = 0; i < n; i++) {
      conn_t *c = evs[i].data.ptr;
      if (!c) {
        uint64_t ticks;
        (void)!read(tfd, &ticks, sizeof ticks);
        if (!draining) lat_send_due(w, mono_ns(), &scheduled, &rr);
        continue;
      }
      if (c->fd < 0) continue;
      int dead = 0;
      if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) dead = lat_read(w, c) != 0;
      if (!dead && (evs[i].events & EPOLLOUT)) dead = tx_flush(w, c) != 0;
      if (dead) { conn_close(w, c, S_CLOSED); w->disconnects++; }
    }
  }
  if (!draining) w->window_ns = now > g_warm_end ? now - g_warm_end : 0; // stopped by a signal
done:
  for (uint32_t i = 0; i < w->nconns; i++) {
    conn_t *c = &w->conns[i];
    if (c->fd >= 0 && c->txh == c->txt) send_disconnect_and_close(w, c);
    else conn_close(w, c, S_CLOSED);
    free(c->tx);
    free(c->rb);
  }
  if (tfd >= 0) close(tfd);
}

// ---------------------------------------------------------------- idle

static void run_idle(worker_t *w) {
  establish(w, ESTABLISH_INFLIGHT / (uint32_t)g_nthreads + 1);
  announce_ready();
  struct epoll_event evs[EPOLL_BATCH];
  while (!stopping()) {
    int n = epoll_wait(w->epfd, evs, EPOLL_BATCH, 100);
    for (int i = 0; i < n; i++) {
      conn_t *c = evs[i].data.ptr;
      if (c->fd < 0) continue;
      ssize_t k = recv(c->fd, w->scratch, sizeof w->scratch, 0);
      if (k == 0 || (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        conn_close(w, c, S_CLOSED);
        w->lost++;
      }
    }
  }
  for (uint32_t i = 0; i < w->nconns; i++) send_disconnect_and_close(w, &w->conns[i]);
}

static void *worker_main(void *arg) {
  worker_t *w = arg;
  switch (g_opt.mode) {
    case M_THROUGHPUT: run_throughput(w); break;
    case M_CONNRATE: run_connrate(w); break;
    case M_LATENCY: run_latency(w); break;
    default: run_idle(w); break;
  }
  __atomic_fetch_add(&g_done, 1, __ATOMIC_RELEASE);
  return NULL;
}

// ---------------------------------------------------------------- flags

static double parse_double(const char *flag, const char *v, double min, double max) {
  char *end;
  errno = 0;
  double d = strtod(v, &end);
  if (errno || end == v || *end || !(d >= min) || !(d <= max)) {
    char msg[160];
    snprintf(msg, sizeof msg, "%s must be a number in %g..%g", flag, min, max);
    usage_error(msg, v);
  }
  return d;
}

static long parse_long(const char *flag, const char *v, long min, long max) {
  long n;
  if (parse_long_in(v, min, max, &n) != 0) {
    char msg[160];
    snprintf(msg, sizeof msg, "%s must be an integer in %ld..%ld", flag, min, max);
    usage_error(msg, v);
  }
  return n;
}

static void parse_target(const char *v) {
  char host[64];
  const char *port_text = split_host_port(v, host, sizeof host);
  if (!port_text) usage_error("--target must be 127.x.y.z:PORT", v);
  uint32_t addr;
  if (parse_loopback(host, &addr) != 0) usage_error("--target host must be a 127.x.y.z loopback address", v);
  long port = parse_long("--target port", port_text, 1, 65535);
  g_opt.target.sin_family = AF_INET;
  g_opt.target.sin_port = htons((uint16_t)port);
  g_opt.target.sin_addr.s_addr = htonl(addr);
}

static void parse_sources(const char *v) {
  if (parse_source_range(v, &g_opt.src_first, &g_opt.src_count) != 0)
    usage_error("--sources must be A-B with 127.x.y.z addresses, A <= B", v);
}

static void parse_args(int argc, char **argv) {
  if (argc < 2) usage_error("missing subcommand", NULL);
  const char *sub = argv[1];
  if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 || strcmp(sub, "help") == 0) {
    fputs(usage_text, stdout);
    exit(0);
  }
  unsigned allowed = F_TARGET | F_THREADS | F_SOURCES | F_VERSION;
  unsigned required = F_TARGET;
  if (strcmp(sub, "throughput") == 0) {
    g_opt.mode = M_THROUGHPUT;
    allowed |= F_CONNS | F_SIZE | F_SECONDS | F_WARMUP | F_PERWRITE;
    required |= F_CONNS | F_SIZE | F_SECONDS;
  } else if (strcmp(sub, "connrate") == 0) {
    g_opt.mode = M_CONNRATE;
    allowed |= F_INFLIGHT | F_SECONDS | F_IDS | F_PREFIX | F_LATOUT | F_MARKS | F_WARMUP;
    required |= F_INFLIGHT | F_SECONDS | F_IDS;
  } else if (strcmp(sub, "latency") == 0) {
    g_opt.mode = M_LATENCY;
    allowed |= F_RATE | F_SIZE | F_SECONDS | F_CONNS | F_LATOUT | F_WARMUP | F_MARKS | F_TICK;
    required |= F_RATE | F_SIZE | F_SECONDS;
  } else if (strcmp(sub, "idle") == 0) {
    g_opt.mode = M_IDLE;
    allowed |= F_CONNS | F_HOLD;
    required |= F_CONNS;
  } else {
    usage_error("unknown subcommand (throughput, connrate, latency, idle)", sub);
  }
  static const struct { const char *name; unsigned bit; } flags[] = {
    { "--target", F_TARGET }, { "--seconds", F_SECONDS }, { "--threads", F_THREADS }, { "--sources", F_SOURCES },
    { "--conns", F_CONNS }, { "--size", F_SIZE }, { "--warmup", F_WARMUP }, { "--inflight", F_INFLIGHT },
    { "--ids", F_IDS }, { "--id-prefix", F_PREFIX }, { "--latency-out", F_LATOUT }, { "--version", F_VERSION },
    { "--rate", F_RATE }, { "--hold-seconds", F_HOLD }, { "--per-write", F_PERWRITE }, { "--marks", F_MARKS },
    { "--tick-us", F_TICK },
  };
  for (int i = 2; i < argc; i++) {
    char name[64];
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) { fputs(usage_text, stdout); exit(0); }
    const char *v = flag_split(a, name, sizeof name); // --flag=value
    if (v) a = name;
    unsigned bit = 0;
    for (size_t k = 0; k < sizeof flags / sizeof flags[0]; k++)
      if (strcmp(a, flags[k].name) == 0) bit = flags[k].bit;
    if (!bit) usage_error("unknown flag", argv[i]);
    if (!(allowed & bit)) {
      char msg[128];
      snprintf(msg, sizeof msg, "%s is not used by %s", a, sub);
      usage_error(msg, NULL);
    }
    if (bit == F_MARKS) { // the one flag without a value
      if (v) usage_error("--marks takes no value", argv[i]);
      g_opt.given |= bit;
      g_opt.marks = 1;
      continue;
    }
    if (!v) {
      if (i + 1 >= argc) usage_error("missing value for", a);
      v = argv[++i];
    }
    g_opt.given |= bit;
    switch (bit) {
      case F_TARGET: parse_target(v); break;
      case F_SECONDS: g_opt.seconds = parse_double(a, v, 0.001, 1e6); break;
      case F_THREADS: g_opt.threads = parse_long(a, v, 1, MAX_THREADS); break;
      case F_SOURCES: parse_sources(v); break;
      case F_CONNS: g_opt.conns = parse_long(a, v, 1, 10000000); break;
      case F_SIZE: g_opt.size = parse_long(a, v, 0, MAX_SIZE); break;
      case F_WARMUP: g_opt.warmup = parse_double(a, v, 0, 1e6); break;
      case F_INFLIGHT: g_opt.inflight = parse_long(a, v, 1, 10000000); break;
      case F_IDS: g_opt.ids = parse_long(a, v, 1, 1000000000); break;
      case F_PREFIX:
        if (strlen(v) > 64) usage_error("--id-prefix is limited to 64 bytes", v);
        g_opt.prefix = v;
        break;
      case F_LATOUT: g_opt.latency_out = v; break;
      case F_VERSION: g_opt.version = parse_long(a, v, 4, 5); break;
      case F_RATE: g_opt.rate = parse_double(a, v, 0.001, 1e8); break;
      case F_HOLD: g_opt.hold_seconds = parse_double(a, v, 0, 1e6); break;
      case F_PERWRITE: g_opt.per_write = parse_long(a, v, 1, 65536); break;
      case F_TICK: g_opt.tick_us = parse_long(a, v, 10, 1000000); break;
    }
  }
  if ((g_opt.given & required) != required) {
    char msg[256] = "missing required flag(s):";
    for (size_t k = 0; k < sizeof flags / sizeof flags[0]; k++)
      if ((required & flags[k].bit) && !(g_opt.given & flags[k].bit)) {
        strncat(msg, " ", sizeof msg - strlen(msg) - 1);
        strncat(msg, flags[k].name, sizeof msg - strlen(msg) - 1);
      }
    usage_error(msg, NULL);
  }
  if (g_opt.mode == M_LATENCY && g_opt.size < 8) usage_error("latency needs --size >= 8 (the payload carries a timestamp)", NULL);
  if (g_opt.mode == M_LATENCY && !(g_opt.given & F_CONNS)) g_opt.conns = 1;
}

// ---------------------------------------------------------------- main

static int write_samples(const char *path) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) { fprintf(stderr, "loadgen: cannot write %s: %s\n", path, strerror(errno)); return -1; }
  for (int t = 0; t < g_nthreads; t++) {
    worker_t *w = &g_workers[t];
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    for (size_t i = 0; i < w->nsamples; i++) w->samples[i] = __builtin_bswap32(w->samples[i]);
#endif
    const uint8_t *p = (const uint8_t *)w->samples;
    size_t left = w->nsamples * sizeof(uint32_t);
    while (left > 0) {
      ssize_t k = write(fd, p, left);
      if (k < 0 && errno == EINTR) continue;
      if (k <= 0) { fprintf(stderr, "loadgen: write %s: %s\n", path, strerror(errno)); close(fd); return -1; }
      p += k;
      left -= (size_t)k;
    }
  }
  return close(fd);
}

// Sleeps until CLOCK_MONOTONIC reaches t_ns, watching signals. Returns 1 if a signal asked to stop.
static int wait_until(int sigfd, uint64_t t_ns) {
  for (;;) {
    uint64_t now = mono_ns();
    if (now >= t_ns) return 0;
    uint64_t left_ms = (t_ns - now) / 1000000ull;
    struct pollfd pf = { .fd = sigfd, .events = POLLIN };
    if (poll(&pf, 1, left_ms > 100 ? 100 : (int)left_ms) > 0) {
      struct signalfd_siginfo si;
      while (read(sigfd, &si, sizeof si) == (ssize_t)sizeof si) {}
      __atomic_store_n(&g_stop, 1, __ATOMIC_RELAXED);
      return 1;
    }
    if (stopping()) return 1;
  }
}

// --marks: one line as the measured window opens or closes, so a parent can sample other processes then.
static void print_mark(const char *phase, uint64_t t_ns) {
  printf("{\"type\":\"window\",\"phase\":\"%s\",\"time_ns\":%llu}\n", phase, (unsigned long long)t_ns);
  fflush(stdout);
}

// Waits until `*counter` reaches `target`, watching signals. Returns 1 if a signal asked to stop.
static int wait_counter(int sigfd, int *counter, int target) {
  while (__atomic_load_n(counter, __ATOMIC_ACQUIRE) < target) {
    struct pollfd pf = { .fd = sigfd, .events = POLLIN };
    if (poll(&pf, 1, 20) > 0) {
      struct signalfd_siginfo si;
      while (read(sigfd, &si, sizeof si) == (ssize_t)sizeof si) {}
      __atomic_store_n(&g_stop, 1, __ATOMIC_RELAXED);
      return 1;
    }
  }
  return 0;
}

int main(int argc, char **argv) {
  parse_args(argc, argv);

  struct rlimit rl;
  nofile_raise(&rl);
  long total = g_opt.mode == M_CONNRATE ? g_opt.inflight : g_opt.conns;
  if ((unsigned long long)total + FD_MARGIN > (unsigned long long)rl.rlim_cur) {
    fprintf(stderr,
            "loadgen: %ld connections need %ld open files but the limit is %llu (hard limit %llu); "
            "use fewer connections or more processes\n",
            total, total + FD_MARGIN, (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max);
    return 2;
  }

  if (g_opt.mode == M_THROUGHPUT) {
    g_pkt_len = publish_len((size_t)g_opt.size);
    size_t count = BATCH_MIN_BYTES / g_pkt_len + 1;
    if (g_opt.per_write) {
      // Whole groups of N packets, so that a send never has to wrap around the end of the batch.
      count = (count + (size_t)g_opt.per_write - 1) / (size_t)g_opt.per_write * (size_t)g_opt.per_write;
      g_group_len = (size_t)g_opt.per_write * g_pkt_len;
    }
    g_batch_len = count * g_pkt_len;
    g_batch = malloc(g_batch_len);
    if (!g_batch) { fprintf(stderr, "loadgen: out of memory\n"); return 1; }
    for (size_t i = 0; i < count; i++) build_publish(g_batch + i * g_pkt_len, (size_t)g_opt.size, NULL);
  } else if (g_opt.mode == M_LATENCY) {
    g_pkt_len = publish_len((size_t)g_opt.size);
    g_lat_pkt = malloc(g_pkt_len);
    if (!g_lat_pkt) { fprintf(stderr, "loadgen: out of memory\n"); return 1; }
    build_publish(g_lat_pkt, (size_t)g_opt.size, &g_lat_ts_off);
  }

  int sigfd = signals_to_fd(0); // before the workers start: they inherit the mask
  if (sigfd < 0) { perror("loadgen: signalfd"); return 1; }

  g_nthreads = (int)(g_opt.threads < total ? g_opt.threads : total);
  g_workers = calloc((size_t)g_nthreads, sizeof *g_workers);
  if (!g_workers) { fprintf(stderr, "loadgen: out of memory\n"); return 1; }
  uint32_t gbase = 0;
  for (int t = 0; t < g_nthreads; t++) {
    worker_t *w = &g_workers[t];
    w->index = t;
    w->nconns = (uint32_t)(total / g_nthreads + (t < total % g_nthreads ? 1 : 0));
    w->gbase = gbase;
    w->conns = calloc(w->nconns, sizeof *w->conns);
    w->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (!w->conns || w->epfd < 0) { fprintf(stderr, "loadgen: setup failed\n"); return 1; }
    for (uint32_t i = 0; i < w->nconns; i++) { w->conns[i].fd = -1; w->conns[i].gindex = gbase + i; }
    gbase += w->nconns;
    if (g_opt.mode == M_LATENCY) w->rate_per_sec = g_opt.rate * (double)w->nconns / (double)total;
  }
  for (int t = 0; t < g_nthreads; t++) {
    if (pthread_create(&g_workers[t].tid, NULL, worker_main, &g_workers[t]) != 0) {
      fprintf(stderr, "loadgen: cannot start thread %d\n", t);
      return 1;
    }
  }

  // Phase 1: every thread has its connections open (or given up on).
  wait_counter(sigfd, &g_ready, g_nthreads);
  uint64_t connect_errors = 0;
  for (int t = 0; t < g_nthreads; t++) connect_errors += g_workers[t].connect_errors;
  if (g_opt.mode != M_CONNRATE && g_opt.mode != M_IDLE && connect_errors == (uint64_t)total) {
    fprintf(stderr, "loadgen: no connection could be established; not running\n");
    __atomic_store_n(&g_stop, 1, __ATOMIC_RELAXED);
  }
  if (g_opt.mode == M_IDLE) {
    printf("{\"type\":\"idle-ready\",\"conns\":%ld,\"errors\":%llu}\n", total, (unsigned long long)connect_errors);
    fflush(stdout);
    fprintf(stderr, "loadgen: holding %llu connections\n", (unsigned long long)(total - (long)connect_errors));
  }

  // Phase 2: go. Times are written before the release store of g_go that workers acquire.
  g_t0 = mono_ns();
  g_warm_end = g_t0 + (uint64_t)(g_opt.warmup * 1e9);
  g_end = g_warm_end + (uint64_t)(g_opt.seconds * 1e9);
  __atomic_store_n(&g_go, 1, __ATOMIC_RELEASE);

  if (g_opt.marks && !stopping()) {
    if (wait_until(sigfd, g_warm_end) == 0) print_mark("start", g_warm_end);
    if (!stopping() && wait_until(sigfd, g_end) == 0) print_mark("end", g_end);
  }
  if (g_opt.mode == M_IDLE && !stopping()) {
    uint64_t hold_end = g_t0 + (uint64_t)(g_opt.hold_seconds * 1e9);
    while (mono_ns() < hold_end) {
      struct pollfd pf[2] = { { .fd = sigfd, .events = POLLIN }, { .fd = 0, .events = POLLIN } };
      int n = poll(pf, 2, 100);
      if (n < 0 && errno != EINTR) break;
      if (n > 0) break; // a signal, a line, or EOF on stdin: all mean "done"
    }
    __atomic_store_n(&g_stop, 1, __ATOMIC_RELAXED);
  }
  wait_counter(sigfd, &g_done, g_nthreads);
  for (int t = 0; t < g_nthreads; t++) pthread_join(g_workers[t].tid, NULL);

  uint64_t sum[8] = { 0 };
  uint64_t window_max = 0;
  size_t nsamples = 0;
  uint64_t dropped = 0, sends = 0;
  for (int t = 0; t < g_nthreads; t++) {
    worker_t *w = &g_workers[t];
    sum[0] += w->bytes;
    sum[1] += w->messages;
    sum[2] += w->connections;
    sum[3] += w->errors;
    sum[4] += w->sent;
    sum[5] += w->received;
    sum[6] += w->disconnects;
    sum[7] += w->lost + w->skipped;
    if (w->window_ns > window_max) window_max = w->window_ns;
    nsamples += w->nsamples;
    dropped += w->samples_dropped;
    sends += w->sends;
  }
  double seconds = (double)window_max / 1e9;
  int rc = 0;
  if (g_opt.latency_out && write_samples(g_opt.latency_out) != 0) rc = 1;
  if (dropped) fprintf(stderr, "loadgen: %llu latency samples dropped (memory cap)\n", (unsigned long long)dropped);
  switch (g_opt.mode) {
    case M_THROUGHPUT:
      printf("{\"type\":\"throughput\",\"conns\":%ld,\"size\":%ld,\"per_write\":%ld,\"seconds\":%.6f,\"bytes\":%llu,"
             "\"messages\":%llu,\"sends\":%llu,\"connect_errors\":%llu,\"disconnects\":%llu}\n",
             total, g_opt.size, g_opt.per_write, seconds, (unsigned long long)sum[0], (unsigned long long)sum[1],
             (unsigned long long)sends, (unsigned long long)connect_errors, (unsigned long long)sum[6]);
      break;
    case M_CONNRATE:
      printf("{\"type\":\"connrate\",\"connections\":%llu,\"errors\":%llu,\"seconds\":%.6f,\"samples\":%zu}\n",
             (unsigned long long)sum[2], (unsigned long long)sum[3], seconds, nsamples);
      break;
    case M_LATENCY:
      printf("{\"type\":\"latency\",\"sent\":%llu,\"received\":%llu,\"seconds\":%.6f,\"samples\":%zu,"
             "\"connect_errors\":%llu,\"skipped\":%llu}\n",
             (unsigned long long)sum[4], (unsigned long long)sum[5], seconds, nsamples,
             (unsigned long long)connect_errors, (unsigned long long)sum[7]);
      break;
    default:
      printf("{\"type\":\"idle-done\",\"lost\":%llu}\n", (unsigned long long)sum[7]);
      break;
  }
  fflush(stdout);
  return rc;
}
