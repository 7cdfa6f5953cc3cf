// Sluice's native data path: shared types of the connection engine (listener and accept, the CONNECT
// phase, broker connect, the pump) and its Node-API binding. One engine per thread (worker), driven by
// one epoll instance that the thread's libuv loop polls: every socket of the thread is in that epoll set,
// so one loop wake-up handles every ready socket, and JS hears of them in one batched call.
#ifndef SLUICE_H
#define SLUICE_H

#define _GNU_SOURCE
#ifndef __linux__
#error "the native engine is Linux-only (epoll, splice): other systems use the JS data path"
#endif
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <node_api.h>
#include <uv.h>

// Every napi_status is checked: a call that fails makes the JS function give up, returning NULL (JS sees
// undefined, or the pending exception).
#define NAPI_CHECK(call) do { if ((call) != napi_ok) return NULL; } while (0)

// ---- intrusive circular lists with a sentinel head ----
typedef struct link { struct link *prev, *next; } link_t;
static inline void list_init(link_t *h) { h->prev = h->next = h; }
static inline int list_empty(const link_t *h) { return h->next == h; }
static inline void list_push(link_t *h, link_t *n) { n->next = h; n->prev = h->prev; h->prev->next = n; h->prev = n; }
static inline void list_take_all(link_t *dst, link_t *src) {  // dst (empty) gets src's entries; src is left empty
  if (list_empty(src)) return;
  dst->next = src->next; dst->prev = src->prev; dst->next->prev = dst->prev->next = dst; list_init(src);
}
static inline void list_remove(link_t *n) { n->prev->next = n->next; n->next->prev = n->prev; list_init(n); }
#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

// Sides of a connection, and directions: direction d moves bytes from side d to side 1 - d.
enum { kClient = 0, kBroker = 1 };

// How a forwarded pair ended (JS maps these by index: workers/splice-addon.ts spliceEndReasons).
enum { kClientClosed = 0, kBrokerClosed = 1, kClientError = 2, kBrokerError = 3, kShutdown = 4,
       kIdle = 5,    // the client sent nothing for its idle limit (setIdle; keep-alive aware)
       kDrained = 6 };  // closed by endPair: its broker is draining at a bounded close rate

// A connection's phase.
enum {
  kPhaseReading = 1,    // CONNECT phase: reading the client's first bytes for JS to judge
  kPhaseDeciding = 2,   // CONNECT read, JS is placing it: nothing read, no broker fd yet
  kPhaseConnecting = 3, // a broker connect in flight
  kPhasePumping = 4,    // forwarding both ways
  kPhaseLingering = 5,  // refused: CONNACK and FIN sent, reading and discarding until close or timeout
};

// Deadline lists, one per fixed duration: arrival order is deadline order (see deadline.c).
enum { kDeadlineConnect = 0, kDeadlineBroker = 1, kDeadlineLinger = 2, kDeadlineKinds = 3 };

// Events for JS, batched per loop wake-up (workers/native-engine.ts has the same table).
enum {
  kEvAccepted = 1,      // slot, a = listener index: a new client connection, in the CONNECT phase
  kEvData = 2,          // slot, a = bytes read so far (data at dataOffset, or fetch with bytesOf)
  kEvEndedEarly = 3,    // slot, a = bytes read: the client sent FIN before JS judged the CONNECT whole
  kEvResetEarly = 4,    // slot, a = errno: the client reset (or failed) before its CONNECT was whole
  kEvTimedOut = 5,      // slot, a = bytes read, b/c = offset/length of the client's "ip:port" (-1/0: none):
                        // connect_timeout; the engine closed it
  kEvBrokerFailed = 6,  // slot, a = errno: the broker connect failed or timed out (ETIMEDOUT)
  kEvConnected = 7,     // slot: the broker answered; CONNECT and what followed it are on their way
  kEvEnded = 8,         // slot, a = bytes client->broker, b = bytes broker->client, c = reason, d = errno
  kEvClientGone = 9,    // slot, a = errno: the client reset while its broker was being connected
  kEvAcceptFailed = 10, // a = errno: accept(2) failed (EMFILE...): the listener pauses 100 ms
  kEvBrokerFirst = 11,  // slot, a = bytes, b = their offset in the data array: the broker's first read
                        // (tapBroker: its CONNACK, for passive health or an MQTT 5 Assigned Client Identifier)
};

// tapBroker flags: what a connection's first broker read (its CONNACK) goes to JS for.
enum {
  kTapCopy = 1,          // always (an MQTT 5 empty client id: JS pins the assigned id)
  kTapJudge = 2,         // passive health: unless it is a CONNACK that accepts the client
  kTapReportAccept = 4,  // passive health, the broker has failures in a row: an accepting CONNACK too
};

typedef struct { int rd, wr; size_t cap; uint32_t gen; } pipe_t;

typedef struct {
  pipe_t pipe;       // splice mode: rd == -1 while none is held (an idle direction gives its pipe back)
  size_t queued;     // bytes in the pipe, not yet written to the destination
  uint8_t *pend;     // copy mode: bytes read (or the CONNECT), not yet written; malloc'd, NULL when empty
  uint32_t pend_len, pend_off;
  uint64_t moved;    // bytes read from the source (the CONNECT included for client->broker)
  uint64_t read_ns;  // when the last copy-mode read returned bytes (CLOCK_MONOTONIC)
  uint64_t other_moved;  // the other direction's `moved` at that read: were there answers since?
  uint64_t tick_moved, tick_other;  // held: both directions' `moved` at the last hold tick
  uint8_t eof;       // the source sent FIN
  uint8_t shut;      // ...and it was passed on: shutdown(dst, SHUT_WR)
  uint8_t held;      // a streaming source, read when kHoldBytes are in or at the hold tick (pump.c)
} dir_t;

typedef struct state state_t;

typedef struct conn {
  link_t link;          // st->conns: every connection of the thread
  link_t dl_link;       // in st->deadline[dl_kind] while it has a deadline
  uint64_t dl_at;       // when, in uv_now() ms
  int8_t dl_kind;       // -1: no deadline
  uint8_t phase;
  uint8_t legacy;       // started by start(): its end goes to its own JS callback, not the batch
  int8_t first;         // reason of the first FIN seen, -1 before (the first event decides)
  uint32_t slot;        // index in st->slots: the id JS knows the connection by
  int fd[2];            // client, broker (-1: none)
  uint32_t events[2];   // epoll interest registered for each fd
  uint8_t registered[2];
  uint8_t unread;       // CONNECT phase: a full read was the last one, so the socket may hold more (engine.c)
  uint8_t tap;          // tapBroker flags (kTap*): the broker's first read may go to JS (kEvBrokerFirst)
  uint16_t in_skip;     // the first in_skip bytes of `in` are not the client's: a PROXY header for the broker
  uint16_t broker;      // broker index being connected / connected to
  uint32_t want;        // CONNECT phase: tell JS again once this many bytes are in
  uint8_t *in;          // CONNECT phase: the bytes read so far (malloc'd)
  uint32_t in_len, in_cap;
  dir_t dir[2];
  // Idle limit (setIdle): ended when the client has sent nothing for idle_ms (0: never). The sweep
  // (engine_sweep_idle) compares dir[kClient].moved with what it saw last: no clock read per read.
  uint32_t idle_ms;
  uint64_t idle_moved;  // dir[kClient].moved at the last sweep that saw it change
  uint64_t idle_since;  // uv_now() of that sweep
  link_t hold_link;     // in st->held while a direction is held
  napi_ref legacy_cb;   // legacy only
  state_t *st;
} conn_t;

// An interest no fd has: conn_interest sees a change and re-registers, and EPOLL_CTL_MOD re-arms the
// fd's edge (it reports what is ready now). Set c->events[side] to it where a socket may hold bytes no
// new edge would announce.
#define kRearm UINT32_MAX

typedef struct { struct sockaddr_storage addr; socklen_t len; } sockaddr_any_t;

typedef struct {
  int fd;
  uint8_t paused;       // out of the epoll set after an accept failure, until paused_until
  uint64_t paused_until;
} listener_t;

#define kMaxListeners 16
#define kMaxBrokerSlots 256  // broker-table slots (src/brokers/layout.ts MAX_BROKERS): broker indexes are below
#define kEventFields 6  // per event: kind, slot, a, b, c, d (Float64 each)

struct state {
  napi_env env;
  uv_loop_t *loop;
  int epfd;
  uv_poll_t epoll_poll;  // the thread's loop polls our epoll fd
  uv_timer_t timer;      // the nearest deadline (or a paused listener's resume)
  int handles_open;      // uv handles not yet closed (teardown waits for 0)
  link_t conns;
  link_t dead;           // freed at the end of the current wake-up (slots are not reused within it)
  conn_t **slots;
  uint32_t nslots, slots_cap;
  uint32_t *free_slots;
  uint32_t nfree;
  uint32_t live;         // connections, any phase
  uint32_t pumping;      // pairs forwarding now
  link_t deadline[kDeadlineKinds];
  uint64_t duration_ms[kDeadlineKinds];
  uint32_t max_in;       // CONNECT-phase bytes kept at most (max_connect_size + what may follow it)
  listener_t listeners[kMaxListeners];
  int nlisteners;
  sockaddr_any_t *brokers;
  uint32_t nbrokers;
  // pipe pool
  pipe_t *pool;
  uint32_t pooled, pool_max, pipes_out;
  size_t pipe_bytes;
  uint32_t gen;
  uint64_t moved[2];     // bytes read per direction by every pair since the last takeMoved()
  uint64_t (*broker_moved)[2];  // the same per broker index (nbrokers_moved of them), for takeMovedByBroker()
  uint32_t nbrokers_moved;
  uint8_t *scratch;      // copy-mode and CONNECT-phase reads
  // coalescing small streaming reads (pump.c): directions held until the next tick of hold_fd
  uint64_t hold_ns;      // how long a held source waits at most; 0: never hold
  uint64_t holds;        // sources held since the start (a streaming source that began a hold)
  int hold_fd;           // a timerfd in the epoll set, armed while `held` is not empty (-1: none)
  uint8_t hold_armed;
  link_t held;
  // the JS side of the batch: arrays JS allocated once (their memory does not move)
  napi_ref on_events;
  napi_ref batch_refs[2];
  double *ev;            // kEventFields doubles per event
  uint32_t ev_cap, ev_n;
  uint8_t *data;         // CONNECT bytes of kEvData events
  uint32_t data_cap, data_used;
  napi_async_context actx;
  napi_ref resource;
  int in_js;             // a batch is being delivered: JS calls into the engine must not emit
  // legacy ends waiting for the end of the wake-up
  struct legacy_end { napi_ref cb; double c2b, b2c; int reason, err; } *legacy_ends;
  uint32_t nlegacy, legacy_cap;
  int tearing_down;
  napi_async_cleanup_hook_handle hook;
};

// engine.c
int engine_init(state_t *st);
void engine_on_timer(uv_timer_t *t);
void engine_flush(state_t *st);
void engine_reap(state_t *st);
void engine_emit(state_t *st, int kind, uint32_t slot, double a, double b, double c, double d, const uint8_t *data, uint32_t len);
conn_t *conn_new(state_t *st);
void conn_free(conn_t *c);
int conn_interest(conn_t *c, int side, uint32_t events);
void conn_unregister(conn_t *c, int side);
int engine_listen(state_t *st, const char *host, int port, int backlog);
void engine_close_listener(state_t *st, int index);
// pump.c: bytes read from side d of c (per direction, and per broker for the metrics).
void count_moved(conn_t *c, int d, uint64_t n);
// engine.c: "ip:port" of the peer of fd into out (NUL-terminated); its length, 0 if it has none.
uint32_t peer_text(int fd, char *out, size_t cap);
int sockaddr_ip_port(const struct sockaddr_storage *ss, char *ip, size_t cap, int *port);
// notify.c: one sd_notify(3) datagram to `path` ('@' first: abstract); 0 or an errno.
int notify_send(const char *path, size_t path_len, const char *msg, size_t len);
void engine_close_listeners(state_t *st);
int engine_connect(conn_t *c, uint32_t broker, const uint8_t *prefix, size_t prefix_len);
void engine_rearm_client(conn_t *c);
void engine_broker_failed(conn_t *c, int err);
void engine_refuse(conn_t *c, const uint8_t *connack, size_t len);
int64_t engine_evict_oldest(state_t *st, char *peer, size_t cap, uint32_t *peer_len);
uint32_t engine_stop_all(state_t *st);
uint32_t engine_sweep_idle(state_t *st);
void engine_teardown(state_t *st);

// deadline.c
void deadline_add(conn_t *c, int kind);
void deadline_remove(conn_t *c);
void deadline_arm(state_t *st);
void deadline_fire(state_t *st);

// pump.c. It calls three functions of its host, so the bench's C proxy (bench/native/splice-proxy.c)
// runs the same pump: conn_interest, conn_pair_ended (which frees the connection) and conn_broker_first
// (a tapped connection's first broker bytes). The host puts
// st->hold_fd (made by pump_init) in its epoll set and calls pump_hold_tick when it is readable.
void conn_pair_ended(conn_t *c, int reason, int err);
void conn_broker_first(conn_t *c, const uint8_t *bytes, uint32_t len);
int pump_init(state_t *st);
void pump_hold_tick(state_t *st);
int pipe_take(state_t *st, pipe_t *out);
void pipe_give(state_t *st, pipe_t *p);
uint32_t pool_drain(state_t *st);
void pair_start(conn_t *c);
void pair_pump(conn_t *c, int side, uint32_t events);
void pair_on_error(conn_t *c, int side, int err);
void pair_end(conn_t *c, int reason, int err);
void pair_close(conn_t *c, int reason);

#endif
