// The connection engine of one thread: listeners (SO_REUSEPORT, accepted in batches), the CONNECT phase
// (bytes read for JS to judge, delivered when JS said it needs more), the broker connect (non-blocking,
// with its timeout), refusals (CONNACK, FIN, a linger), and the batch of events JS hears once per wake-up.
// JS decides (MQTT, limits, placement); this file only moves sockets. JS calls into the engine while it
// handles a batch, and those calls never emit events: they answer directly.
#include "sluice.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define kEpollBatch 256    // events taken per wake-up
#define kAcceptBatch 128   // connections accepted per listener per wake-up
#define kScratchBytes (64 * 1024)
#define kListenerTag (UINT64_MAX - kMaxListeners)  // epoll data above: a listener
#define kHoldTag kListenerTag                       // the pump's hold timer
#define kAcceptPauseMs 100

static void on_epoll(uv_poll_t *h, int status, int events);

// ---- events for JS ------------------------------------------------------------------------------------

/** Delivers the batch to JS (one call) and empties it. */
void engine_flush(state_t *st) {
  if (st->in_js || st->tearing_down) return;
  st->in_js = 1;
  napi_env env = st->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) == napi_ok) {
    napi_value cb, recv, argv[1];
    if (st->ev_n > 0 && napi_get_reference_value(env, st->on_events, &cb) == napi_ok && cb != NULL &&
        napi_get_reference_value(env, st->resource, &recv) == napi_ok &&
        napi_create_uint32(env, st->ev_n, &argv[0]) == napi_ok) {
      // make_callback: microtasks and nextTicks run after, as after any I/O callback.
      if (napi_make_callback(env, st->actx, recv, cb, 1, argv, NULL) == napi_pending_exception) {
        napi_value e;
        // JS handles each event in a try/catch: an exception here is a Sluice bug, reported as uncaught.
        if (napi_get_and_clear_last_exception(env, &e) == napi_ok) (void)napi_fatal_exception(env, e);
      }
    }
    // Legacy pairs (start()) end through their own callbacks, after the batch.
    for (uint32_t i = 0; i < st->nlegacy; i++) {
      struct legacy_end *le = &st->legacy_ends[i];
      napi_value fn, args[4];
      char name[64];
      if (le->err) uv_err_name_r(-le->err, name, sizeof name);  // on Unix a libuv error code is -errno
      if (napi_get_reference_value(env, le->cb, &fn) == napi_ok && fn != NULL &&
          napi_get_reference_value(env, st->resource, &recv) == napi_ok &&
          napi_create_double(env, le->c2b, &args[0]) == napi_ok && napi_create_double(env, le->b2c, &args[1]) == napi_ok &&
          napi_create_int32(env, le->reason, &args[2]) == napi_ok &&
          (le->err ? napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &args[3]) : napi_get_undefined(env, &args[3])) == napi_ok) {
        if (napi_make_callback(env, st->actx, recv, fn, 4, args, NULL) == napi_pending_exception) {
          napi_value e;
          if (napi_get_and_clear_last_exception(env, &e) == napi_ok) (void)napi_fatal_exception(env, e);
        }
      }
      (void)napi_delete_reference(env, le->cb);  // a failure leaks one reference; nothing else to do
    }
    st->nlegacy = 0;
    (void)napi_close_handle_scope(env, scope);
  }
  st->ev_n = 0;
  st->data_used = 0;
  st->in_js = 0;
}

/** Frees the connections that ended during this wake-up; their slots can be reused from now on. */
void engine_reap(state_t *st) {
  while (!list_empty(&st->dead)) {
    conn_t *c = container_of(st->dead.next, conn_t, link);
    list_remove(&c->link);
    st->slots[c->slot] = NULL;
    st->free_slots[st->nfree++] = c->slot;
    free(c);
  }
}

void engine_emit(state_t *st, int kind, uint32_t slot, double a, double b, double c, double d, const uint8_t *data, uint32_t len) {
  if (st->in_js || st->tearing_down || st->ev == NULL) return;  // nobody to tell (see the file comment)
  if (st->ev_n == st->ev_cap || (data != NULL && len <= st->data_cap && st->data_used + len > st->data_cap)) engine_flush(st);
  double *e = st->ev + (size_t)st->ev_n * kEventFields;
  e[0] = kind;
  e[1] = slot;
  e[2] = a;
  e[3] = b;
  e[4] = c;
  e[5] = d;
  if (data != NULL) {
    if (len <= st->data_cap) {
      memcpy(st->data + st->data_used, data, len);
      e[3] = st->data_used;
      st->data_used += len;
    } else {
      e[3] = -1;  // larger than the batch's data area: JS fetches it with bytesOf(slot)
    }
  }
  st->ev_n++;
}

// ---- connections --------------------------------------------------------------------------------------

conn_t *conn_new(state_t *st) {
  if (st->nfree == 0) {
    if (st->nslots == st->slots_cap) {
      uint32_t cap = st->slots_cap ? st->slots_cap * 2 : 1024;
      conn_t **slots = realloc(st->slots, cap * sizeof *slots);
      if (slots == NULL) return NULL;
      st->slots = slots;
      uint32_t *free_slots = realloc(st->free_slots, cap * sizeof *free_slots);
      if (free_slots == NULL) return NULL;
      st->free_slots = free_slots;
      st->slots_cap = cap;
    }
    st->free_slots[st->nfree++] = st->nslots;
    st->slots[st->nslots++] = NULL;
  }
  conn_t *c = calloc(1, sizeof *c);
  if (c == NULL) return NULL;
  c->slot = st->free_slots[--st->nfree];
  st->slots[c->slot] = c;
  c->st = st;
  c->fd[0] = c->fd[1] = -1;
  c->dl_kind = -1;
  c->first = -1;
  c->want = 1;
  list_init(&c->dl_link);
  for (int d = 0; d < 2; d++) c->dir[d].pipe.rd = c->dir[d].pipe.wr = -1;
  list_push(&st->conns, &c->link);
  st->live++;
  return c;
}

/** Closes a connection's fds and drops it; the memory and slot go at the end of the wake-up (reap). */
void conn_free(conn_t *c) {
  state_t *st = c->st;
  if (c->phase == 0) return;
  deadline_remove(c);
  for (int s = 0; s < 2; s++) {
    if (c->fd[s] < 0) continue;
    // Closing the engine's own fd takes it out of the epoll set. A legacy pair's fds are dups of Node's,
    // whose open file description may outlive ours: those are removed first, or they would linger.
    if (c->legacy) conn_unregister(c, s);
    close(c->fd[s]);
    c->fd[s] = -1;
  }
  free(c->in);
  c->in = NULL;
  for (int d = 0; d < 2; d++) {
    free(c->dir[d].pend);
    c->dir[d].pend = NULL;
  }
  if (c->legacy_cb != NULL) (void)napi_delete_reference(st->env, c->legacy_cb);
  c->legacy_cb = NULL;
  c->phase = 0;
  st->live--;
  list_remove(&c->link);
  list_push(&st->dead, &c->link);
}

/** The IP text and port of an IPv4 or IPv6 address, as Node says them (127.0.0.1, not ::ffff:127.0.0.1);
 *  -1 for another family. `cap` >= INET6_ADDRSTRLEN. */
int sockaddr_ip_port(const struct sockaddr_storage *ss, char *ip, size_t cap, int *port) {
  if (ss->ss_family == AF_INET) {
    const struct sockaddr_in *v4 = (const struct sockaddr_in *)ss;
    inet_ntop(AF_INET, &v4->sin_addr, ip, (socklen_t)cap);
    *port = ntohs(v4->sin_port);
    return 0;
  }
  if (ss->ss_family == AF_INET6) {
    const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)ss;
    if (IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr)) inet_ntop(AF_INET, &v6->sin6_addr.s6_addr[12], ip, (socklen_t)cap);
    else inet_ntop(AF_INET6, &v6->sin6_addr, ip, (socklen_t)cap);
    *port = ntohs(v6->sin6_port);
    return 0;
  }
  return -1;
}

uint32_t peer_text(int fd, char *out, size_t cap) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  char ip[INET6_ADDRSTRLEN];
  int port;
  if (fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &len) != 0 || sockaddr_ip_port(&ss, ip, sizeof ip, &port) != 0) return 0;
  int n = snprintf(out, cap, "%s:%d", ip, port);
  return n > 0 && (size_t)n < cap ? (uint32_t)n : 0;
}

/** A tapped connection's first broker bytes (pump.c): to JS, which reads its CONNACK. */
void conn_broker_first(conn_t *c, const uint8_t *bytes, uint32_t len) {
  engine_emit(c->st, kEvBrokerFirst, c->slot, len, 0, 0, 0, bytes, len);
}

/** The pump's pair ended (pump.c calls this last): JS is told (batched, or the legacy callback), then the
 *  connection is freed. */
void conn_pair_ended(conn_t *c, int reason, int err) {
  state_t *st = c->st;
  if (!st->tearing_down) {
    if (c->legacy) {
      if (st->nlegacy == st->legacy_cap) {
        uint32_t cap = st->legacy_cap ? st->legacy_cap * 2 : 16;
        struct legacy_end *grown = realloc(st->legacy_ends, cap * sizeof *grown);
        if (grown != NULL) {
          st->legacy_ends = grown;
          st->legacy_cap = cap;
        }
      }
      if (st->nlegacy < st->legacy_cap) {
        st->legacy_ends[st->nlegacy++] = (struct legacy_end){ c->legacy_cb, (double)c->dir[kClient].moved, (double)c->dir[kBroker].moved, reason, err };
        c->legacy_cb = NULL;  // the queued end owns the reference now
      }
    } else {
      engine_emit(st, kEvEnded, c->slot, (double)c->dir[kClient].moved, (double)c->dir[kBroker].moved, reason, err, NULL, 0);
    }
  }
  conn_free(c);
}

/** Sets the epoll interest of side s (0 keeps it registered: errors and hang-ups are still reported). */
int conn_interest(conn_t *c, int side, uint32_t events) {
  if (c->registered[side] && c->events[side] == events) return 0;
  struct epoll_event ev = { .events = events, .data = { .u64 = ((uint64_t)c->slot << 1) | (uint64_t)side } };
  int op = c->registered[side] ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
  if (epoll_ctl(c->st->epfd, op, c->fd[side], &ev) != 0) return errno;
  c->registered[side] = 1;
  c->events[side] = events;
  return 0;
}

void conn_unregister(conn_t *c, int side) {
  if (!c->registered[side]) return;
  epoll_ctl(c->st->epfd, EPOLL_CTL_DEL, c->fd[side], NULL);
  c->registered[side] = 0;
  c->events[side] = 0;
}

static int socket_error(int fd, int fallback) {
  int so = 0;
  socklen_t len = sizeof so;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &so, &len) == 0 && so != 0) return so;
  return fallback;
}

// ---- the CONNECT phase --------------------------------------------------------------------------------

/** Tells JS what the client has sent so far; nothing more until it answers (want, refuse or connect). */
static void deliver_connect(conn_t *c) {
  c->want = UINT32_MAX;
  engine_emit(c->st, kEvData, c->slot, c->in_len, 0, 0, 0, c->in, c->in_len);
}

/** Reads what the client sent (until the socket is empty: its fd is edge-triggered); tells JS once as
 *  many bytes are in as it asked for. `events` has EPOLLRDHUP when the client's FIN is in: no edge
 *  will follow it, so it is remembered (unread) for whoever reads this socket next. */
static void read_connect(conn_t *c, uint32_t events) {
  state_t *st = c->st;
  c->unread = (events & EPOLLRDHUP) != 0;
  for (;;) {
    uint32_t room = st->max_in - c->in_len;
    if (room == 0) {
      conn_interest(c, kClient, 0);  // JS decides before this can happen; never read without bound
      return;
    }
    size_t ask = room < kScratchBytes ? room : kScratchBytes;
    ssize_t n = recv(c->fd[kClient], st->scratch, ask, MSG_DONTWAIT);
    if (n > 0) {
      uint32_t need = c->in_len + (uint32_t)n;
      if (need > c->in_cap) {
        // Grows with what arrived (doubling), never past max_in: memory follows the bytes, not the announce.
        uint32_t cap = c->in_cap ? c->in_cap * 2 : 256;
        if (cap < need) cap = need;
        if (cap > st->max_in) cap = st->max_in;
        uint8_t *grown = realloc(c->in, cap);
        if (grown == NULL) {
          engine_emit(st, kEvResetEarly, c->slot, ENOMEM, 0, 0, 0, NULL, 0);
          conn_free(c);
          return;
        }
        c->in = grown;
        c->in_cap = cap;
      }
      memcpy(c->in + c->in_len, st->scratch, (size_t)n);
      c->in_len = need;
      if ((size_t)n < ask) {
        // A short read emptied the socket: the next bytes bring a new edge. With the FIN in and nothing
        // for JS yet, the next read is that FIN (no edge would bring it).
        if (c->in_len >= c->want) deliver_connect(c);
        else if (c->unread) continue;
        return;
      }
      if (c->in_len >= c->want) {
        // JS judges these bytes first; what may still wait in the socket is read once it asks for more
        // (js_want re-arms the fd), so the bytes JS saw are the bytes it answers about.
        deliver_connect(c);
        c->unread = 1;
        return;
      }
    } else if (n == 0) {
      // FIN before JS judged the CONNECT whole: nothing will complete it.
      engine_emit(st, kEvEndedEarly, c->slot, c->in_len, 0, 0, 0, NULL, 0);
      conn_free(c);
      return;
    } else if (errno == EINTR) {
      continue;
    } else {
      if (errno != EAGAIN) {
        engine_emit(st, kEvResetEarly, c->slot, errno, 0, 0, 0, NULL, 0);
        conn_free(c);
      }
      return;
    }
  }
}

/** Re-arms the client's edge (EPOLL_CTL_MOD reports it readable now if bytes or a FIN wait): JS asked
 *  for more after a CONNECT-phase read that left something in the socket. */
void engine_rearm_client(conn_t *c) {
  if (!c->unread) return;
  c->unread = 0;
  uint32_t events = c->events[kClient];
  c->events[kClient] = kRearm;
  if (conn_interest(c, kClient, events) != 0) c->events[kClient] = events;
}

static void on_accept(state_t *st, int index) {
  listener_t *l = &st->listeners[index];
  for (int k = 0; k < kAcceptBatch; k++) {
    int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
      // Out of fds or memory: stop accepting for a moment instead of spinning on a readable listener.
      int e = errno;
      epoll_ctl(st->epfd, EPOLL_CTL_DEL, l->fd, NULL);
      l->paused = 1;
      l->paused_until = uv_now(st->loop) + kAcceptPauseMs;
      deadline_arm(st);
      engine_emit(st, kEvAcceptFailed, 0, e, 0, 0, 0, NULL, 0);
      return;
    }
    // TCP_NODELAY comes from the listener (an accepted socket inherits it).
    conn_t *c = conn_new(st);
    if (c == NULL) {
      close(fd);
      continue;
    }
    c->fd[kClient] = fd;
    c->phase = kPhaseReading;
    // Edge-triggered, with EPOLLRDHUP, from the start: the pump asks for the same, so forwarding needs no
    // epoll_ctl for the client.
    if (conn_interest(c, kClient, EPOLLIN | EPOLLRDHUP | EPOLLET) != 0) {
      conn_free(c);
      continue;
    }
    deadline_add(c, kDeadlineConnect);
    engine_emit(st, kEvAccepted, c->slot, index, 0, 0, 0, NULL, 0);
    // No read yet: the CONNECT usually arrives just after the handshake the accept saw, so a read now
    // mostly answers EAGAIN (measured: 99% on loopback); the readable event comes in this batch or the next.
  }
}

static void lingering_read(conn_t *c) {
  for (;;) {
    ssize_t n = recv(c->fd[kClient], c->st->scratch, kScratchBytes, MSG_DONTWAIT);
    if (n > 0) continue;  // discarded: a refused client's bytes go nowhere
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    conn_free(c);  // its FIN (or an error): the refusal is delivered or moot
    return;
  }
}

/** The broker attempt of c failed (`err`, ETIMEDOUT from its deadline): its socket is closed and JS is
 *  told, so it tries the next candidate; the client waits, not read, for that answer. */
void engine_broker_failed(conn_t *c, int err) {
  conn_unregister(c, kBroker);
  close(c->fd[kBroker]);
  c->fd[kBroker] = -1;
  c->phase = kPhaseDeciding;
  engine_emit(c->st, kEvBrokerFailed, c->slot, err, 0, 0, 0, NULL, 0);
}

static void on_broker_writable(conn_t *c, uint32_t events) {
  state_t *st = c->st;
  // Writable without an error or hang-up: connected (no need to ask SO_ERROR).
  int err = events & (EPOLLERR | EPOLLHUP) ? socket_error(c->fd[kBroker], ECONNREFUSED) : 0;
  deadline_remove(c);
  if (err != 0) {
    engine_broker_failed(c, err);
    return;
  }
  engine_emit(st, kEvConnected, c->slot, 0, 0, 0, 0, NULL, 0);
  pair_start(c);
}

static void conn_on_event(conn_t *c, int side, uint32_t events) {
  switch (c->phase) {
    case kPhaseReading:
      if (events & EPOLLERR) {
        engine_emit(c->st, kEvResetEarly, c->slot, socket_error(c->fd[kClient], ECONNRESET), 0, 0, 0, NULL, 0);
        conn_free(c);
      } else {
        read_connect(c, events);
      }
      return;
    case kPhaseConnecting:
    case kPhaseDeciding:
      if (side == kBroker) {
        if (c->phase == kPhaseConnecting) on_broker_writable(c, events);
      } else if (events & (EPOLLERR | EPOLLHUP)) {
        // The client reset while its broker was being connected: nobody to forward for.
        engine_emit(c->st, kEvClientGone, c->slot, socket_error(c->fd[kClient], ECONNRESET), 0, 0, 0, NULL, 0);
        conn_free(c);
      } else {
        // More bytes (or a FIN) before the broker answered: they wait in the kernel until forwarding
        // starts (backpressure). Reading stops only now, as most clients send nothing before CONNACK.
        conn_interest(c, kClient, 0);
      }
      return;
    case kPhasePumping:
      if (events & EPOLLERR) pair_on_error(c, side, 0);
      else pair_pump(c, side, events);
      return;
    case kPhaseLingering:
      lingering_read(c);
      return;
  }
}

// ---- JS's answers -------------------------------------------------------------------------------------

/** Puts `prefix` (for this broker: a PROXY header, or nothing) in front of the client's bytes in c->in,
 *  in place of an earlier candidate's. Returns 0 or an errno. */
static int set_prefix(conn_t *c, const uint8_t *prefix, size_t n) {
  if (n > UINT16_MAX) return EINVAL;
  uint32_t body = c->in_len - c->in_skip;
  if (n != c->in_skip) {
    if (n + body > c->in_cap) {
      uint8_t *grown = realloc(c->in, n + body);
      if (grown == NULL) return ENOMEM;
      c->in = grown;
      c->in_cap = (uint32_t)(n + body);
    }
    memmove(c->in + n, c->in + c->in_skip, body);
    c->in_len = (uint32_t)(n + body);
    c->in_skip = (uint16_t)n;
  }
  if (n > 0) memcpy(c->in, prefix, n);
  return 0;
}

/** Connects connection c to broker `broker`; `prefix` goes to it before the client's bytes. Returns 0 (in
 *  flight: an event follows) or an errno (failed at once, nothing follows; the connection waits for JS's
 *  next answer). */
int engine_connect(conn_t *c, uint32_t broker, const uint8_t *prefix, size_t prefix_len) {
  state_t *st = c->st;
  if (broker >= st->nbrokers) return EINVAL;
  if (c->phase != kPhaseReading && c->phase != kPhaseDeciding) return EALREADY;
  int e = set_prefix(c, prefix, prefix_len);
  if (e) return e;
  deadline_remove(c);
  // Until the broker answers, the client is not read (its bytes wait in the kernel); its fd stays in the
  // set, so a reset still reaches us (and the first event disables reading: conn_on_event).
  c->phase = kPhaseDeciding;
  const sockaddr_any_t *to = &st->brokers[broker];
  int fd = socket(to->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(fd, (const struct sockaddr *)&to->addr, to->len) != 0 && errno != EINPROGRESS) {
    e = errno;
    close(fd);
    return e;
  }
  c->fd[kBroker] = fd;
  c->broker = (uint16_t)broker;
  e = conn_interest(c, kBroker, EPOLLOUT);
  if (e) {
    close(fd);
    c->fd[kBroker] = -1;
    return e;
  }
  c->phase = kPhaseConnecting;
  deadline_add(c, kDeadlineBroker);
  return 0;
}

/** Refuses connection c: the CONNACK (if MQTT has one for the case), FIN, then a linger in which what the
 *  client sends is read and dropped (closing with unread bytes would reset, losing the CONNACK). */
void engine_refuse(conn_t *c, const uint8_t *connack, size_t len) {
  deadline_remove(c);
  if (c->fd[kBroker] >= 0) {
    conn_unregister(c, kBroker);
    close(c->fd[kBroker]);
    c->fd[kBroker] = -1;
  }
  free(c->in);
  c->in = NULL;
  c->in_len = c->in_cap = 0;
  c->in_skip = 0;
  if (len > 0) send(c->fd[kClient], connack, len, MSG_NOSIGNAL | MSG_DONTWAIT);  // a few bytes: an empty buffer takes them
  shutdown(c->fd[kClient], SHUT_WR);
  c->phase = kPhaseLingering;
  if (conn_interest(c, kClient, EPOLLIN) != 0) {
    conn_free(c);
    return;
  }
  deadline_add(c, kDeadlineLinger);
}

/** Closes the client waiting longest in the CONNECT phase; returns its slot, or -1 when none waits. */
int64_t engine_evict_oldest(state_t *st, char *peer, size_t cap, uint32_t *peer_len) {
  if (list_empty(&st->deadline[kDeadlineConnect])) return -1;
  conn_t *c = container_of(st->deadline[kDeadlineConnect].next, conn_t, dl_link);
  int64_t slot = c->slot;
  *peer_len = peer_text(c->fd[kClient], peer, cap);  // for the log line: the socket is closed next
  conn_free(c);
  return slot;
}

// ---- listeners ----------------------------------------------------------------------------------------

/** Listens on host:port (NULL host: every address, IPv6 and IPv4) with SO_REUSEPORT, in the first free
 *  listener slot. Returns the slot (>= 0) or -errno. */
int engine_listen(state_t *st, const char *host, int port, int backlog) {
  int index = 0;
  while (index < st->nlisteners && st->listeners[index].fd >= 0) index++;  // a slot closed by a reload
  if (index == kMaxListeners) return -EMFILE;
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  socklen_t len;
  int family;
  struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
  if (host == NULL || inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
    family = AF_INET6;
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons((uint16_t)port);
    if (host == NULL) v6->sin6_addr = in6addr_any;
    len = sizeof *v6;
  } else if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
    family = AF_INET;
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)port);
    len = sizeof *v4;
  } else {
    return -EINVAL;  // JS passes resolved IPs
  }
  int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0 && host == NULL && errno == EAFNOSUPPORT) {
    // No IPv6 on this machine: every address means every IPv4 address.
    memset(&ss, 0, sizeof ss);
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)port);
    v4->sin_addr.s_addr = htonl(INADDR_ANY);
    len = sizeof *v4;
    family = AF_INET;
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  }
  if (fd < 0) return -errno;
  int one = 1, zero = 0;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  // Accepted sockets inherit it: no setsockopt per connection. Small MQTT packets go out at once.
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  // Every worker binds the same address; the kernel spreads new connections between them.
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  if (family == AF_INET6 && host == NULL) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
  if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, backlog) != 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  struct epoll_event ev = { .events = EPOLLIN, .data = { .u64 = UINT64_MAX - (uint64_t)index } };
  if (epoll_ctl(st->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  st->listeners[index] = (listener_t){ .fd = fd, .paused = 0, .paused_until = 0 };
  if (index == st->nlisteners) st->nlisteners++;
  return index;
}

/** Closes listener slot `index` (a reload removed it); connections it accepted are not touched. */
void engine_close_listener(state_t *st, int index) {
  if (index < 0 || index >= st->nlisteners || st->listeners[index].fd < 0) return;
  listener_t *l = &st->listeners[index];
  if (!l->paused) epoll_ctl(st->epfd, EPOLL_CTL_DEL, l->fd, NULL);
  close(l->fd);
  *l = (listener_t){ .fd = -1, .paused = 0, .paused_until = 0 };
}

void engine_close_listeners(state_t *st) {
  for (int i = 0; i < st->nlisteners; i++) engine_close_listener(st, i);
  st->nlisteners = 0;
}

// ---- the loop -----------------------------------------------------------------------------------------

static void on_epoll(uv_poll_t *h, int status, int events) {
  (void)status;
  (void)events;
  state_t *st = h->data;
  struct epoll_event evs[kEpollBatch];
  int n = epoll_wait(st->epfd, evs, kEpollBatch, 0);
  for (int i = 0; i < n; i++) {
    uint64_t u = evs[i].data.u64;
    if (u == kHoldTag) {
      pump_hold_tick(st);
      continue;
    }
    if (u > kListenerTag) {
      int index = (int)(UINT64_MAX - u);
      if (index < st->nlisteners && st->listeners[index].fd >= 0) on_accept(st, index);
      continue;
    }
    uint32_t slot = (uint32_t)(u >> 1);
    conn_t *c = slot < st->nslots ? st->slots[slot] : NULL;
    if (c == NULL || c->phase == 0) continue;  // ended earlier in this wake-up
    conn_on_event(c, (int)(u & 1), evs[i].events);
  }
  engine_flush(st);
  engine_reap(st);
}

void engine_on_timer(uv_timer_t *t) {
  state_t *st = t->data;
  deadline_fire(st);
  engine_flush(st);
  engine_reap(st);
}

int engine_init(state_t *st) {
  list_init(&st->conns);
  list_init(&st->dead);
  for (int k = 0; k < kDeadlineKinds; k++) list_init(&st->deadline[k]);
  st->duration_ms[kDeadlineConnect] = 10000;
  st->duration_ms[kDeadlineBroker] = 5000;
  st->duration_ms[kDeadlineLinger] = 2000;
  st->max_in = 64 * 1024 + 4096;
  st->scratch = malloc(kScratchBytes);
  if (st->scratch == NULL) return ENOMEM;
  st->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (st->epfd < 0) return errno;
  int e = pump_init(st);
  if (e) return e;
  struct epoll_event hold = { .events = EPOLLIN, .data = { .u64 = kHoldTag } };
  if (epoll_ctl(st->epfd, EPOLL_CTL_ADD, st->hold_fd, &hold) != 0) return errno;
  if (uv_poll_init(st->loop, &st->epoll_poll, st->epfd) != 0 || uv_timer_init(st->loop, &st->timer) != 0) return EIO;
  st->handles_open = 2;
  st->epoll_poll.data = st;
  st->timer.data = st;
  if (uv_poll_start(&st->epoll_poll, UV_READABLE, on_epoll) != 0) return EIO;
  // Neither handle alone keeps a worker's loop alive: Node's own handles (the message port) decide.
  uv_unref((uv_handle_t *)&st->epoll_poll);
  uv_unref((uv_handle_t *)&st->timer);
  return 0;
}

/** Ends every connection of the thread: forwarded pairs with reason shutdown (told to JS), the rest
 *  closed. Returns how many pairs ended. Not to be called from inside the events callback. */
/** Ends every forwarding pair whose client has sent nothing for its idle limit; returns how many. */
uint32_t engine_sweep_idle(state_t *st) {
  uint64_t now = uv_now(st->loop);
  uint32_t n = 0;
  for (link_t *l = st->conns.next, *next; l != &st->conns; l = next) {
    next = l->next;  // pair_end moves c to st->dead: its successor is taken first
    conn_t *c = container_of(l, conn_t, link);
    if (c->phase != kPhasePumping || c->idle_ms == 0) continue;
    uint64_t moved = c->dir[kClient].moved;
    if (moved != c->idle_moved) {
      c->idle_moved = moved;
      c->idle_since = now;
    } else if (now - c->idle_since >= c->idle_ms) {
      pair_close(c, kIdle);
      n++;
    }
  }
  return n;
}

uint32_t engine_stop_all(state_t *st) {
  uint32_t n = 0;
  while (!list_empty(&st->conns)) {
    conn_t *c = container_of(st->conns.next, conn_t, link);
    if (c->phase == kPhasePumping) {
      pair_end(c, kShutdown, 0);
      n++;
    } else {
      conn_free(c);
    }
  }
  engine_flush(st);
  engine_reap(st);
  return n;
}
