// sink: a minimal fast MQTT backend for the Sluice bench: answers CONNECT, then counts (sink) or echoes (echo) bytes.
//
// Linux only (epoll, signalfd, SO_REUSEPORT). One epoll loop per thread; the main thread owns stdout,
// stdin commands ("stats", "ids") and signals (SIGUSR1 = stats, SIGTERM/SIGINT = exit).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
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
#include <time.h>
#include <unistd.h>

#include "common.h"

#define MAX_PORTS 64
#define MAX_THREADS 64
#define LISTEN_BACKLOG 4096
#define READ_BUF_BYTES (256 * 1024)
#define ECHO_BUF_BYTES (READ_BUF_BYTES + 64) // room for CONNACK plus one full read after CONNECT
#define SMALL_OUT_BYTES 64           // sink mode only ever sends CONNACK and PINGRESPs
#define CONNECT_MAX_BYTES (256 * 1024) // a CONNECT larger than this is refused (closed)
#define IDS_MAX 1000000              // distinct client ids kept per port; more are counted as overflow
#define EPOLL_BATCH 256
#define ACCEPTS_PER_EVENT 64
#define READS_PER_EVENT 4
#define LOOP_TIMEOUT_MS 100          // worker loops wake at least this often to see the stop flag

enum { KIND_LISTENER = 1, KIND_CONN = 2 };
enum { MODE_SINK = 0, MODE_ECHO = 1 };
enum { PHASE_CONNECT = 0, PHASE_STREAM = 1 };
// Streaming framer state: after CONNECT we only need packet boundaries (fixed header + remaining length).
enum { F_TYPE = 0, F_LEN = 1, F_BODY = 2, F_DEAD = 3 };

typedef struct {
  int kind;
  int fd;
  int port_index;
} listener_t;

typedef struct {
  int kind;
  int fd;
  int port_index;
  uint8_t phase;
  uint8_t fstate;
  uint8_t ftype;
  uint8_t vshift;
  uint8_t eof;
  uint32_t rl;        // remaining length being decoded
  uint32_t skip;      // body bytes left of the current packet
  uint32_t events;    // current epoll interest
  // CONNECT accumulation (freed once CONNECT is parsed)
  uint8_t *cbuf;
  uint32_t clen, ccap, ctotal;
  // outgoing bytes: CONNACK, PINGRESPs (sink) or echoed bytes (echo)
  uint8_t *obuf;
  uint32_t ohead, otail, ocap;
} conn_t;

// Per-thread, per-port counters. Single writer (the owning thread); the main thread reads them.
// Relaxed atomics: each value only needs to be untorn, there is no ordering between them to keep.
typedef struct {
  uint64_t connections, active, bytes, packets, publishes, bad_connects;
} counters_t;

typedef struct {
  uint64_t hash;
  char *s;     // NULL = empty slot
  uint32_t len;
} id_entry_t;

typedef struct {
  id_entry_t *slots;
  uint32_t cap;   // power of two
  uint32_t count;
  uint64_t overflow;
} idset_t;

typedef struct {
  int port;
  pthread_mutex_t ids_lock;
  idset_t ids;
} port_t;

typedef struct {
  int index;
  int epfd;
  pthread_t tid;
  listener_t listeners[MAX_PORTS];
  counters_t counters[MAX_PORTS];
  uint8_t *rbuf;
  int reserve_fd; // spare fd released to accept-and-close when the fd limit is hit
} worker_t;

static int g_mode = MODE_SINK;
static int g_nports;
static port_t g_ports[MAX_PORTS];
static int g_nthreads = 1;
static worker_t g_workers[MAX_THREADS];
static int g_stop; // read/written with relaxed atomics: a flag polled every loop, nothing guarded by it

static const char usage_text[] =
    "usage: sink --ports P1[,P2,...] [--mode sink|echo] [--threads N] [--seconds T] [--ignore-stdin]\n"
    "\n"
    "Minimal MQTT backend on 127.0.0.1. Per connection: reads CONNECT, answers CONNACK (3.1.1 or 5),\n"
    "then counts every packet (mode sink; PINGREQ gets PINGRESP, DISCONNECT closes) or echoes every\n"
    "byte back (mode echo, with backpressure).\n"
    "\n"
    "  --ports P1,P2     listening ports (1..32767; at most 64)\n"
    "  --mode M          sink (default) or echo\n"
    "  --threads N       worker threads, each with its own epoll and SO_REUSEPORT listeners (default 1)\n"
    "  --seconds T       exit by itself after T seconds (default: run until told to stop)\n"
    "  --ignore-stdin    do not read stdin (stdin EOF does not stop the sink; use signals)\n"
    "\n"
    "stdout (one JSON object per line):\n"
    "  {\"type\":\"ready\",\"ports\":[...]}                        once listening\n"
    "  {\"type\":\"stats\",\"ports\":[{\"port\":P,\"connections\":N,\"active\":N,\"bytes\":N,\"packets\":N,\n"
    "     \"publishes\":N,\"bad_connects\":N}],\"time_ns\":N}      on stdin line \"stats\" or SIGUSR1\n"
    "  {\"type\":\"ids\",\"ports\":[{\"port\":P,\"ids\":[...],\"overflow\":N}]}  on stdin line \"ids\" (then cleared)\n"
    "Counters are cumulative; bytes/packets/publishes count what arrives after CONNECT.\n"
    "Exit: SIGTERM, SIGINT, stdin EOF (unless --ignore-stdin), or --seconds.\n";

static void usage_error(const char *msg, const char *arg) { usage_exit("sink", usage_text, msg, arg); }

static inline void counter_add(uint64_t *c, uint64_t v) {
  // Single writer: a relaxed load+store avoids a locked instruction on the hot path.
  __atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + v, __ATOMIC_RELAXED);
}

static inline void counter_sub(uint64_t *c, uint64_t v) {
  __atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) - v, __ATOMIC_RELAXED);
}

static int stopping(void) { return __atomic_load_n(&g_stop, __ATOMIC_RELAXED); }

// ---------------------------------------------------------------- client id set (per port, mutex held)

static uint64_t fnv1a(const uint8_t *p, uint32_t n) {
  uint64_t h = 1469598103934665603ull;
  for (uint32_t i = 0; i < n; i++) { h ^= p[i]; h *= 1099511628211ull; }
  return h;
}

static int idset_grow(idset_t *s) {
  uint32_t ncap = s->cap ? s->cap * 2 : 1024;
  id_entry_t *ns = calloc(ncap, sizeof *ns);
  if (!ns) return -1;
  for (uint32_t i = 0; i < s->cap; i++) {
    if (!s->slots[i].s) continue;
    uint32_t j = (uint32_t)s->slots[i].hash & (ncap - 1);
    while (ns[j].s) j = (j + 1) & (ncap - 1);
    ns[j] = s->slots[i];
  }
  free(s->slots);
  s->slots = ns;
  s->cap = ncap;
  return 0;
}

static void idset_add(idset_t *s, const uint8_t *id, uint32_t len) {
  uint64_t h = fnv1a(id, len);
  if (s->cap) {
    uint32_t j = (uint32_t)h & (s->cap - 1);
    for (uint32_t probes = 0; probes < s->cap && s->slots[j].s; probes++) {
      if (s->slots[j].hash == h && s->slots[j].len == len && memcmp(s->slots[j].s, id, len) == 0) return;
      j = (j + 1) & (s->cap - 1);
    }
  }
  if (s->count >= IDS_MAX) { s->overflow++; return; }
  // Keep the load factor at or below one half so probe runs stay short.
  if ((uint64_t)(s->count + 1) * 2 > s->cap && idset_grow(s) != 0) { s->overflow++; return; }
  char *copy = malloc(len + 1);
  if (!copy) { s->overflow++; return; }
  memcpy(copy, id, len);
  copy[len] = 0;
  uint32_t j = (uint32_t)h & (s->cap - 1);
  while (s->slots[j].s) j = (j + 1) & (s->cap - 1);
  s->slots[j].hash = h;
  s->slots[j].s = copy;
  s->slots[j].len = len;
  s->count++;
}

static void idset_clear(idset_t *s) {
  for (uint32_t i = 0; i < s->cap; i++) free(s->slots[i].s);
  free(s->slots);
  s->slots = NULL;
  s->cap = s->count = 0;
  s->overflow = 0;
}

// Writes `p[0..n)` as a JSON string. Valid UTF-8 passes through; control characters are \u-escaped;
// each byte of an invalid UTF-8 sequence becomes \u00XX so the output is always valid JSON.
static void json_string(FILE *out, const uint8_t *p, uint32_t n) {
  fputc('"', out);
  uint32_t i = 0;
  while (i < n) {
    uint8_t b = p[i];
    if (b == '"' || b == '\\') { fputc('\\', out); fputc(b, out); i++; continue; }
    if (b < 0x20 || b == 0x7f) { fprintf(out, "\\u%04x", b); i++; continue; }
    if (b < 0x80) { fputc(b, out); i++; continue; }
    uint32_t need = (b & 0xe0) == 0xc0 ? 1 : (b & 0xf0) == 0xe0 ? 2 : (b & 0xf8) == 0xf0 ? 3 : 0;
    int ok = need > 0 && i + need < n; // the continuation bytes p[i+1..i+need] are all present
    for (uint32_t k = 1; ok && k <= need; k++) ok = (p[i + k] & 0xc0) == 0x80;
    if (ok && need == 1 && b < 0xc2) ok = 0; // overlong 2-byte form
    if (ok && need == 2) {
      uint32_t cp = ((uint32_t)(b & 0x0f) << 12) | ((uint32_t)(p[i + 1] & 0x3f) << 6) | (p[i + 2] & 0x3f);
      if (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)) ok = 0;
    }
    if (ok && need == 3) {
      uint32_t cp = ((uint32_t)(b & 0x07) << 18) | ((uint32_t)(p[i + 1] & 0x3f) << 12) |
                    ((uint32_t)(p[i + 2] & 0x3f) << 6) | (p[i + 3] & 0x3f);
      if (cp < 0x10000 || cp > 0x10ffff) ok = 0;
    }
    if (!ok) { fprintf(out, "\\u%04x", b); i++; continue; }
    fwrite(p + i, 1, need + 1, out);
    i += need + 1;
  }
  fputc('"', out);
}

// ---------------------------------------------------------------- MQTT parsing

// Parses a complete CONNECT packet p[0..n) (n = header + remaining length). Returns 0 and the client id
// (pointer into p) and protocol level, or -1 if malformed. MQTT 3.1.1 section 3.1, MQTT 5.0 section 3.1.
static int parse_connect(const uint8_t *p, uint32_t n, uint32_t hlen, const uint8_t **id, uint32_t *idlen, int *level) {
  uint32_t i = hlen;
  if (i + 2 > n) return -1;
  uint32_t namelen = ((uint32_t)p[i] << 8) | p[i + 1];
  i += 2 + namelen;
  if (i + 4 > n) return -1; // level, flags, keepalive(2)
  *level = p[i];
  i += 4;
  if (*level == 5) {
    uint32_t plen = 0, shift = 0, k = 0;
    for (;;) {
      if (i >= n || k == 4) return -1;
      uint8_t b = p[i++];
      k++;
      plen |= (uint32_t)(b & 0x7f) << shift;
      shift += 7;
      if (!(b & 0x80)) break;
    }
    if (plen > n - i) return -1;
    i += plen;
  }
  if (i + 2 > n) return -1;
  *idlen = ((uint32_t)p[i] << 8) | p[i + 1];
  i += 2;
  if (*idlen > n - i) return -1;
  *id = p + i;
  return 0;
}

// ---------------------------------------------------------------- connections

static void conn_close(worker_t *w, conn_t *c) {
  epoll_ctl(w->epfd, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  counter_sub(&w->counters[c->port_index].active, 1);
  free(c->cbuf);
  free(c->obuf);
  free(c);
}

static int set_interest(worker_t *w, conn_t *c, uint32_t events) {
  if (events == c->events) return 0;
  struct epoll_event ev = { .events = events, .data.ptr = c };
  if (epoll_ctl(w->epfd, EPOLL_CTL_MOD, c->fd, &ev) != 0) return -1;
  c->events = events;
  return 0;
}

// Appends bytes to the out buffer; sink mode drops what does not fit (only PINGRESPs can overflow).
static void out_append(conn_t *c, const uint8_t *p, uint32_t n) {
  if (c->otail + n > c->ocap && c->ohead > 0) {
    memmove(c->obuf, c->obuf + c->ohead, c->otail - c->ohead);
    c->otail -= c->ohead;
    c->ohead = 0;
  }
  if (c->otail + n > c->ocap) return;
  memcpy(c->obuf + c->otail, p, n);
  c->otail += n;
}

// Writes what the out buffer holds. Returns -1 if the connection failed.
static int out_flush(conn_t *c) { return send_pending(c->fd, c->obuf, &c->ohead, &c->otail); }

// Counts complete packets in a post-CONNECT byte run. Returns 1 if a DISCONNECT ended the run.
static int frame_count(worker_t *w, conn_t *c, const uint8_t *p, uint32_t n, uint32_t *pingreqs) {
  counters_t *ctr = &w->counters[c->port_index];
  const uint8_t *end = p + n;
  uint64_t packets = 0, publishes = 0;
  int disconnect = 0;
  while (p < end && c->fstate != F_DEAD) {
    if (c->fstate == F_TYPE && end - p >= 5) {
      // Fast path: the whole fixed header is in this run, so small packets cost a few branches each.
      uint32_t hlen, rl;
      if (fixed_header(p, 5, &hlen, &rl) != 1) { c->fstate = F_DEAD; break; }
      uint8_t type = p[0] >> 4;
      if ((uint64_t)(end - p) < (uint64_t)hlen + rl) {
        c->ftype = p[0];
        c->skip = rl - (uint32_t)(end - p - hlen);
        c->fstate = F_BODY;
        break;
      }
      p += hlen + rl;
      packets++;
      if (type == 3) publishes++;
      else if (type == 12) (*pingreqs)++;
      else if (type == 14) { disconnect = 1; break; }
      continue;
    }
    if (c->fstate == F_BODY) {
      uint32_t avail = (uint32_t)(end - p);
      if (avail < c->skip) { c->skip -= avail; break; }
      p += c->skip;
      c->skip = 0;
    } else if (c->fstate == F_TYPE) {
      c->ftype = *p++;
      c->rl = 0;
      c->vshift = 0;
      c->fstate = F_LEN;
      continue;
    } else { // F_LEN
      uint8_t b = *p++;
      c->rl |= (uint32_t)(b & 0x7f) << c->vshift;
      if (b & 0x80) {
        c->vshift += 7;
        if (c->vshift > 21) c->fstate = F_DEAD; // malformed: stop framing, keep counting bytes
        continue;
      }
      if (c->rl > 0) { c->skip = c->rl; c->fstate = F_BODY; continue; }
    }
    // A packet just completed.
    c->fstate = F_TYPE;
    packets++;
    uint8_t type = c->ftype >> 4;
    if (type == 3) publishes++;
    else if (type == 12) (*pingreqs)++;
    else if (type == 14) { disconnect = 1; break; }
  }
  counter_add(&ctr->packets, packets);
  counter_add(&ctr->publishes, publishes);
  return disconnect;
}

// Post-CONNECT bytes: count them, then answer (sink) or queue them back (echo). Returns -1 to close.
static int stream_bytes(worker_t *w, conn_t *c, const uint8_t *p, uint32_t n) {
  counter_add(&w->counters[c->port_index].bytes, n);
  uint32_t pingreqs = 0;
  int disconnect = frame_count(w, c, p, n, &pingreqs);
  if (g_mode == MODE_ECHO) return 0; // echo mode: the bytes are already in obuf, pure echo
  if (disconnect) return -1;
  static const uint8_t pingresp[2] = { 0xd0, 0x00 };
  for (uint32_t i = 0; i < pingreqs; i++) out_append(c, pingresp, 2);
  return 0;
}

// Feeds bytes to the CONNECT accumulator. Returns -1 invalid, 0 need more (all consumed), or the number
// of bytes consumed when CONNECT is complete (the rest of `data` is stream data).
static int64_t connect_feed(conn_t *c, const uint8_t *data, uint32_t n) {
  uint32_t used = 0;
  for (int guard = 0; guard < 8; guard++) { // at most: 4 header steps + 1 body copy
    if (c->ctotal == 0 && c->clen > 0) {
      if (c->cbuf[0] != 0x10) return -1;
      uint32_t hlen, rl;
      int r = fixed_header(c->cbuf, c->clen, &hlen, &rl);
      if (r < 0) return -1;
      if (r > 0) {
        if (rl > CONNECT_MAX_BYTES) return -1;
        c->ctotal = hlen + rl;
      }
    }
    if (c->ctotal && c->clen == c->ctotal) return used;
    if (used == n) return 0;
    uint32_t want = c->ctotal ? c->ctotal : c->clen + 1; // header: one byte at a time (at most 5)
    if (c->ctotal == 0 && c->clen == 0) want = 2;
    uint32_t take = want - c->clen;
    if (take > n - used) take = n - used;
    if (c->clen + take > c->ccap) {
      uint32_t ncap = c->ccap ? c->ccap : 64;
      while (ncap < c->clen + take) ncap *= 2;
      uint8_t *nb = realloc(c->cbuf, ncap);
      if (!nb) return -1;
      c->cbuf = nb;
      c->ccap = ncap;
    }
    memcpy(c->cbuf + c->clen, data + used, take);
    c->clen += take;
    used += take;
  }
  return -1;
}

// CONNECT is complete in cbuf: record the client id, queue CONNACK, switch to streaming.
static int connect_done(worker_t *w, conn_t *c) {
  uint32_t hlen, rl, idlen;
  const uint8_t *id;
  int level;
  if (fixed_header(c->cbuf, c->clen, &hlen, &rl) != 1 || parse_connect(c->cbuf, c->clen, hlen, &id, &idlen, &level) != 0) {
    counter_add(&w->counters[c->port_index].bad_connects, 1);
    return -1;
  }
  port_t *port = &g_ports[c->port_index];
  pthread_mutex_lock(&port->ids_lock);
  idset_add(&port->ids, id, idlen);
  pthread_mutex_unlock(&port->ids_lock);
  free(c->cbuf);
  c->cbuf = NULL;
  c->clen = c->ccap = c->ctotal = 0;
  c->ocap = g_mode == MODE_ECHO ? ECHO_BUF_BYTES : SMALL_OUT_BYTES;
  c->obuf = malloc(c->ocap);
  if (!c->obuf) return -1;
  static const uint8_t connack4[4] = { 0x20, 0x02, 0x00, 0x00 };
  static const uint8_t connack5[5] = { 0x20, 0x03, 0x00, 0x00, 0x00 };
  if (level == 5) out_append(c, connack5, 5);
  else out_append(c, connack4, 4);
  c->phase = PHASE_STREAM;
  c->fstate = F_TYPE;
  return 0;
}

// Re-arms epoll for what the connection can do now; returns -1 if it should close.
static int update_interest(worker_t *w, conn_t *c) {
  int pending = c->ohead < c->otail;
  if (c->eof && !pending) return -1;
  uint32_t ev = 0;
  // Echo backpressure: stop reading while the out buffer has no room left.
  int room = g_mode != MODE_ECHO || c->phase != PHASE_STREAM || c->otail < c->ocap || c->ohead > 0;
  if (!c->eof && room) ev |= EPOLLIN;
  if (pending) ev |= EPOLLOUT;
  return set_interest(w, c, ev);
}

static int on_readable(worker_t *w, conn_t *c) {
  for (int reads = 0; reads < READS_PER_EVENT; reads++) {
    uint8_t *dst;
    uint32_t space;
    int direct = g_mode == MODE_ECHO && c->phase == PHASE_STREAM;
    if (direct) {
      // Echo: read straight into the out buffer (compacted), so echoing costs no copy.
      if (c->ohead > 0 && c->ocap - c->otail < c->ocap / 4) {
        memmove(c->obuf, c->obuf + c->ohead, c->otail - c->ohead);
        c->otail -= c->ohead;
        c->ohead = 0;
      }
      space = c->ocap - c->otail;
      if (space == 0) break;
      dst = c->obuf + c->otail;
    } else {
      dst = w->rbuf;
      space = READ_BUF_BYTES;
    }
    ssize_t n = recv(c->fd, dst, space, 0);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EINTR) continue;
      return -1;
    }
    if (n == 0) {
      if (g_mode != MODE_ECHO) return -1;
      c->eof = 1;
      break;
    }
    uint32_t got = (uint32_t)n;
    if (direct) {
      c->otail += got;
      stream_bytes(w, c, dst, got);
    } else if (c->phase == PHASE_CONNECT) {
      int64_t used = connect_feed(c, dst, got);
      if (used < 0) {
        counter_add(&w->counters[c->port_index].bad_connects, 1);
        return -1;
      }
      if (c->ctotal && c->clen == c->ctotal) {
        if (connect_done(w, c) != 0) return -1;
        uint32_t rest = got - (uint32_t)used;
        if (rest > 0) {
          if (g_mode == MODE_ECHO) out_append(c, dst + used, rest); // fits: rest < READ_BUF == ECHO_BUF
          if (stream_bytes(w, c, dst + used, rest) != 0) return -1;
        }
      }
    } else {
      if (stream_bytes(w, c, dst, got) != 0) return -1;
    }
    if (got < space) break;
  }
  if (out_flush(c) != 0) return -1;
  return update_interest(w, c);
}

static void on_accept(worker_t *w, listener_t *l) {
  for (int i = 0; i < ACCEPTS_PER_EVENT; i++) {
    int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if ((errno == EMFILE || errno == ENFILE) && w->reserve_fd >= 0) {
        // Out of fds: free the spare, accept and drop one, so a level-triggered listener does not spin.
        accept_drop_one(l->fd, &w->reserve_fd);
        fprintf(stderr, "sink: out of file descriptors; dropped a connection on port %d\n", g_ports[l->port_index].port);
        return;
      }
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    conn_t *c = calloc(1, sizeof *c);
    if (!c) { close(fd); return; }
    c->kind = KIND_CONN;
    c->fd = fd;
    c->port_index = l->port_index;
    c->events = EPOLLIN;
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
    if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) { close(fd); free(c); return; }
    counter_add(&w->counters[l->port_index].connections, 1);
    counter_add(&w->counters[l->port_index].active, 1);
  }
}

static void *worker_main(void *arg) {
  worker_t *w = arg;
  struct epoll_event events[EPOLL_BATCH];
  while (!stopping()) {
    int n = epoll_wait(w->epfd, events, EPOLL_BATCH, LOOP_TIMEOUT_MS);
    if (n < 0) {
      if (errno == EINTR) continue;
      fprintf(stderr, "sink: epoll_wait: %s\n", strerror(errno));
      break;
    }
    for (int i = 0; i < n; i++) {
      int kind = *(int *)events[i].data.ptr;
      if (kind == KIND_LISTENER) { on_accept(w, events[i].data.ptr); continue; }
      conn_t *c = events[i].data.ptr;
      uint32_t e = events[i].events;
      int rc = 0;
      if (e & (EPOLLIN | EPOLLERR | EPOLLHUP)) rc = on_readable(w, c);
      if (rc == 0 && (e & EPOLLOUT)) {
        rc = out_flush(c);
        if (rc == 0) rc = update_interest(w, c);
      }
      if (rc != 0) conn_close(w, c);
    }
  }
  // Open connections are closed by process exit.
  return NULL;
}

// ---------------------------------------------------------------- main thread: output and commands

static void print_ready(void) {
  printf("{\"type\":\"ready\",\"ports\":[");
  for (int p = 0; p < g_nports; p++) printf("%s%d", p ? "," : "", g_ports[p].port);
  printf("]}\n");
  fflush(stdout);
}

static void print_stats(void) {
  printf("{\"type\":\"stats\",\"ports\":[");
  for (int p = 0; p < g_nports; p++) {
    counters_t sum = { 0 };
    for (int t = 0; t < g_nthreads; t++) {
      counters_t *c = &g_workers[t].counters[p];
      sum.connections += __atomic_load_n(&c->connections, __ATOMIC_RELAXED);
      sum.active += __atomic_load_n(&c->active, __ATOMIC_RELAXED);
      sum.bytes += __atomic_load_n(&c->bytes, __ATOMIC_RELAXED);
      sum.packets += __atomic_load_n(&c->packets, __ATOMIC_RELAXED);
      sum.publishes += __atomic_load_n(&c->publishes, __ATOMIC_RELAXED);
      sum.bad_connects += __atomic_load_n(&c->bad_connects, __ATOMIC_RELAXED);
    }
    printf("%s{\"port\":%d,\"connections\":%llu,\"active\":%llu,\"bytes\":%llu,\"packets\":%llu,\"publishes\":%llu,"
           "\"bad_connects\":%llu}",
           p ? "," : "", g_ports[p].port, (unsigned long long)sum.connections, (unsigned long long)sum.active,
           (unsigned long long)sum.bytes, (unsigned long long)sum.packets, (unsigned long long)sum.publishes,
           (unsigned long long)sum.bad_connects);
  }
  printf("],\"time_ns\":%llu}\n", (unsigned long long)mono_ns());
  fflush(stdout);
}

static void print_ids(void) {
  printf("{\"type\":\"ids\",\"ports\":[");
  for (int p = 0; p < g_nports; p++) {
    port_t *port = &g_ports[p];
    printf("%s{\"port\":%d,\"ids\":[", p ? "," : "", port->port);
    pthread_mutex_lock(&port->ids_lock);
    int first = 1;
    for (uint32_t i = 0; i < port->ids.cap; i++) {
      id_entry_t *e = &port->ids.slots[i];
      if (!e->s) continue;
      if (!first) fputc(',', stdout);
      first = 0;
      json_string(stdout, (const uint8_t *)e->s, e->len);
    }
    unsigned long long overflow = port->ids.overflow;
    idset_clear(&port->ids);
    pthread_mutex_unlock(&port->ids_lock);
    printf("],\"overflow\":%llu}", overflow);
  }
  printf("]}\n");
  fflush(stdout);
}

static void handle_line(char *line) {
  size_t n = strlen(line);
  while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == ' ' || line[n - 1] == '\t')) line[--n] = 0;
  while (*line == ' ' || *line == '\t') line++;
  if (strcmp(line, "stats") == 0) print_stats();
  else if (strcmp(line, "ids") == 0) print_ids();
  else if (*line) fprintf(stderr, "sink: unknown command \"%s\" (known: stats, ids)\n", line);
}

static int open_listener(int port, int reuseport) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (reuseport) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, LISTEN_BACKLOG) != 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

int main(int argc, char **argv) {
  int ignore_stdin = 0;
  double seconds = 0;
  const char *ports_arg = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    char name[64];
    const char *v = flag_split(a, name, sizeof name); // --flag=value
    if (v) a = name;
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) { fputs(usage_text, stdout); return 0; }
    if (strcmp(a, "--ignore-stdin") == 0) { ignore_stdin = 1; continue; }
    if (strcmp(a, "--ports") && strcmp(a, "--mode") && strcmp(a, "--threads") && strcmp(a, "--seconds"))
      usage_error("unknown flag", argv[i]);
    if (!v) {
      if (i + 1 >= argc) usage_error("missing value for", a);
      v = argv[++i];
    }
    if (strcmp(a, "--ports") == 0) ports_arg = v;
    else if (strcmp(a, "--mode") == 0) {
      if (strcmp(v, "sink") == 0) g_mode = MODE_SINK;
      else if (strcmp(v, "echo") == 0) g_mode = MODE_ECHO;
      else usage_error("--mode must be sink or echo", v);
    } else if (strcmp(a, "--threads") == 0) {
      long t;
      if (parse_long_in(v, 1, MAX_THREADS, &t)) usage_error("--threads must be 1..64", v);
      g_nthreads = (int)t;
    } else {
      char *end;
      seconds = strtod(v, &end);
      if (end == v || *end || !(seconds > 0) || seconds > 1e7) usage_error("--seconds must be a positive number", v);
    }
  }
  if (!ports_arg) usage_error("--ports is required", NULL);
  {
    char buf[1024];
    if (strlen(ports_arg) >= sizeof buf) usage_error("--ports too long", NULL);
    strcpy(buf, ports_arg);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
      long port;
      if (parse_long_in(tok, 1, 32767, &port))
        usage_error("each port must be 1..32767 (below the ephemeral range)", tok);
      if (g_nports == MAX_PORTS) usage_error("too many ports (max 64)", NULL);
      for (int p = 0; p < g_nports; p++)
        if (g_ports[p].port == port) usage_error("port given twice", tok);
      g_ports[g_nports].port = (int)port;
      pthread_mutex_init(&g_ports[g_nports].ids_lock, NULL);
      g_nports++;
    }
    if (g_nports == 0) usage_error("--ports is empty", NULL);
  }

  struct rlimit rl;
  nofile_raise(&rl);

  // Signals go to the main thread's signalfd only: block them before any thread starts.
  int sigfd = signals_to_fd(SIGUSR1);
  if (sigfd < 0) { perror("sink: signalfd"); return 1; }

  for (int t = 0; t < g_nthreads; t++) {
    worker_t *w = &g_workers[t];
    w->index = t;
    w->epfd = epoll_create1(EPOLL_CLOEXEC);
    w->rbuf = malloc(READ_BUF_BYTES);
    w->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (w->epfd < 0 || !w->rbuf) { perror("sink: setup"); return 1; }
    for (int p = 0; p < g_nports; p++) {
      int fd = open_listener(g_ports[p].port, g_nthreads > 1);
      if (fd < 0) {
        fprintf(stderr, "sink: cannot listen on 127.0.0.1:%d: %s\n", g_ports[p].port, strerror(errno));
        return 1;
      }
      w->listeners[p] = (listener_t){ .kind = KIND_LISTENER, .fd = fd, .port_index = p };
      struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &w->listeners[p] };
      if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) { perror("sink: epoll_ctl"); return 1; }
    }
  }
  for (int t = 0; t < g_nthreads; t++) {
    if (pthread_create(&g_workers[t].tid, NULL, worker_main, &g_workers[t]) != 0) {
      fprintf(stderr, "sink: cannot start thread %d\n", t);
      return 1;
    }
  }
  print_ready();
  fprintf(stderr, "sink: mode %s, %d thread(s), %d port(s)\n", g_mode == MODE_ECHO ? "echo" : "sink", g_nthreads, g_nports);

  uint64_t deadline = seconds > 0 ? mono_ns() + (uint64_t)(seconds * 1e9) : 0;
  char line[4096];
  size_t linelen = 0;
  int discarding = 0; // inside an over-long line
  int stdin_open = !ignore_stdin;
  for (;;) {
    if (deadline && mono_ns() >= deadline) break;
    struct pollfd pf[2] = { { .fd = sigfd, .events = POLLIN }, { .fd = stdin_open ? 0 : -1, .events = POLLIN } };
    int n = poll(pf, 2, 100);
    if (n < 0 && errno != EINTR) { perror("sink: poll"); break; }
    if (n <= 0) continue;
    if (pf[0].revents & POLLIN) {
      struct signalfd_siginfo si;
      int quit = 0;
      while (read(sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGUSR1) print_stats();
        else quit = 1;
      }
      if (quit) break;
    }
    if (pf[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      char buf[4096];
      ssize_t k = read(0, buf, sizeof buf);
      if (k < 0 && errno == EINTR) continue;
      if (k <= 0) break; // stdin EOF (or error): the parent is gone
      for (ssize_t i = 0; i < k; i++) {
        if (buf[i] == '\n') {
          line[linelen] = 0;
          if (!discarding) handle_line(line);
          linelen = 0;
          discarding = 0;
        } else if (linelen + 1 < sizeof line) {
          line[linelen++] = buf[i];
        } else {
          discarding = 1;
        }
      }
    }
  }
  __atomic_store_n(&g_stop, 1, __ATOMIC_RELAXED);
  for (int t = 0; t < g_nthreads; t++) pthread_join(g_workers[t].tid, NULL);
  fflush(stdout);
  return 0;
}
