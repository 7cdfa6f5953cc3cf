// Node-API binding of the native engine: one instance per thread (see workers/splice-addon.ts for the
// typed surface). Bad arguments throw TypeErrors/RangeErrors with code SLUICE_ERR_SPLICE_ARG; system
// failures return an errno name (a string) and change nothing; nothing here aborts the process.
//
//   init(onEvents, events: Float64Array, data: Uint8Array)   the batch JS reads in onEvents(count)
//   configureEngine(connectTimeoutMs, brokerConnectTimeoutMs, lingerMs, maxConnectBytes)
//   setBrokers(ips: string[], ports: number[])      numeric addresses, by broker index
//   listen(host | null, port, backlog) -> listener index | errno name     closeListener(index)
//   closeListeners()
//   want(slot, bytes) / refuse(slot, connack?) / connect(slot, broker, prefix?) / skipIn(slot, n) -> undefined | errno name
//   evictOldest() -> [slot | -1, "ip:port" | ""]     remoteAddress(slot) / localAddress(slot) -> [ip, port] | undefined      bytesOf(slot)
//   start(clientFd, brokerFd, onEnd) -> undefined | errno name   (a pair of fds Node accepted: dup'ed)
//   setIdle(slot, ms) -> undefined | errno name   sweepIdle() -> number   endPair(slot) -> undefined | errno name
//   tapBroker(slot, flags) -> undefined | errno name
//   sdNotify(socketPath, message) -> undefined | errno name   takeMovedByBroker(out) -> rows
//   stopAll() -> number   configure(pipeBytes, poolMax)   drainPool() -> number   stats()   takeMoved()
#include "sluice.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define kDefaultPipeBytes (1 << 20)
#define kDefaultPoolMax 16  // idle 1 MiB pipes still count against fs.pipe-user-pages-soft (64 MiB per user)

static state_t *get_state(napi_env env) {
  void *st = NULL;
  if (napi_get_instance_data(env, &st) != napi_ok) return NULL;
  return st;
}

static napi_value throw_arg(napi_env env, const char *msg) {
  (void)napi_throw_type_error(env, "SLUICE_ERR_SPLICE_ARG", msg);  // nothing more to do if even this fails
  return NULL;
}

static napi_value undefined(napi_env env) {
  napi_value v;
  NAPI_CHECK(napi_get_undefined(env, &v));
  return v;
}

static napi_value errno_value(napi_env env, int err) {
  char name[64];
  napi_value v;
  uv_err_name_r(-err, name, sizeof name);
  if (napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &v) != napi_ok) return NULL;
  return v;
}

/** Reads an integer argument in [lo, hi]; 0 on success, else a TypeError/RangeError is pending. */
static int int_arg(napi_env env, napi_value v, int64_t lo, int64_t hi, const char *what, int64_t *out) {
  napi_valuetype t;
  double dbl;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number || napi_get_value_double(env, v, &dbl) != napi_ok) {
    (void)napi_throw_type_error(env, "SLUICE_ERR_SPLICE_ARG", what);
    return -1;
  }
  if (dbl != (double)(int64_t)dbl || dbl < (double)lo || dbl > (double)hi) {
    (void)napi_throw_range_error(env, "SLUICE_ERR_SPLICE_ARG", what);
    return -1;
  }
  *out = (int64_t)dbl;
  return 0;
}

static int get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return -1;
  for (size_t i = argc; i < want; i++) {
    if (napi_get_undefined(env, &argv[i]) != napi_ok) return -1;
  }
  return 0;
}

/** The live connection in `slot`, or NULL (ended, or never was). */
static conn_t *slot_arg(napi_env env, state_t *st, napi_value v) {
  int64_t slot;
  if (int_arg(env, v, 0, UINT32_MAX, "slot must be a connection slot", &slot)) return NULL;
  if (st == NULL || (uint64_t)slot >= st->nslots) return NULL;
  conn_t *c = st->slots[slot];
  return c != NULL && c->phase != 0 ? c : NULL;
}

/** After a JS call that ended something outside a wake-up: deliver its events on the next loop turn.
 *  (Inside a wake-up, while JS handles its batch, the wake-up itself flushes and reaps afterwards.) */
static void flush_soon(state_t *st) {
  if (st->in_js) return;
  if (st->ev_n > 0 || st->nlegacy > 0 || !list_empty(&st->dead)) uv_timer_start(&st->timer, engine_on_timer, 0, 0);
}

// ---- the engine ---------------------------------------------------------------------------------------

static napi_value js_init(napi_env env, napi_callback_info info) {
  state_t *st = get_state(env);
  napi_value argv[3];
  napi_valuetype t;
  if (get_args(env, info, 3, argv) || napi_typeof(env, argv[0], &t) != napi_ok || t != napi_function) return throw_arg(env, "init(onEvents, events, data)");
  napi_typedarray_type type;
  size_t length;
  void *events, *data;
  bool is;
  if (napi_is_typedarray(env, argv[1], &is) != napi_ok || !is ||
      napi_get_typedarray_info(env, argv[1], &type, &length, &events, NULL, NULL) != napi_ok ||
      type != napi_float64_array || length < kEventFields) return throw_arg(env, "events must be a Float64Array");
  size_t events_len = length;
  if (napi_is_typedarray(env, argv[2], &is) != napi_ok || !is ||
      napi_get_typedarray_info(env, argv[2], &type, &length, &data, NULL, NULL) != napi_ok ||
      type != napi_uint8_array) return throw_arg(env, "data must be a Uint8Array");
  if (st == NULL) return NULL;
  if (st->on_events != NULL &&
      (napi_delete_reference(env, st->on_events) != napi_ok || napi_delete_reference(env, st->batch_refs[0]) != napi_ok ||
       napi_delete_reference(env, st->batch_refs[1]) != napi_ok)) return throw_arg(env, "init: cannot drop the old arrays");
  // The arrays' memory does not move while they live, and these references keep them alive.
  if (napi_create_reference(env, argv[0], 1, &st->on_events) != napi_ok ||
      napi_create_reference(env, argv[1], 1, &st->batch_refs[0]) != napi_ok ||
      napi_create_reference(env, argv[2], 1, &st->batch_refs[1]) != napi_ok) return throw_arg(env, "init: cannot keep the arrays");
  st->ev = events;
  st->ev_cap = (uint32_t)(events_len / kEventFields);
  st->ev_n = 0;
  st->data = data;
  st->data_cap = (uint32_t)length;
  st->data_used = 0;
  return NULL;
}

static napi_value js_configure_engine(napi_env env, napi_callback_info info) {
  state_t *st = get_state(env);
  napi_value argv[5];
  int64_t connect_ms, broker_ms, linger_ms, max_connect, hold_us;
  if (get_args(env, info, 5, argv)) return NULL;
  if (int_arg(env, argv[0], 1, INT32_MAX, "connectTimeoutMs must be in [1, 2^31-1]", &connect_ms) ||
      int_arg(env, argv[1], 1, INT32_MAX, "brokerConnectTimeoutMs must be in [1, 2^31-1]", &broker_ms) ||
      int_arg(env, argv[2], 1, INT32_MAX, "lingerMs must be in [1, 2^31-1]", &linger_ms) ||
      int_arg(env, argv[3], 16, 268435460, "maxConnectBytes must be in [16, 2^28]", &max_connect) ||
      int_arg(env, argv[4], 0, 10000, "coalesceUs must be in [0, 10000]", &hold_us)) return NULL;
  if (st == NULL) return NULL;
  st->duration_ms[kDeadlineConnect] = (uint64_t)connect_ms;
  st->duration_ms[kDeadlineBroker] = (uint64_t)broker_ms;
  st->duration_ms[kDeadlineLinger] = (uint64_t)linger_ms;
  // Room past the CONNECT: what follows it in its last segment (it goes to the broker first), and a
  // PROXY header from a front balancer before it (at most 2048 bytes, src/proxy/header-reader.ts).
  st->max_in = (uint32_t)max_connect + 4096 + 2048;
  st->hold_ns = (uint64_t)hold_us * 1000;
  return NULL;
}

static napi_value js_set_brokers(napi_env env, napi_callback_info info) {
  state_t *st = get_state(env);
  napi_value argv[2];
  uint32_t n, n2;
  bool is;
  if (get_args(env, info, 2, argv) || napi_is_array(env, argv[0], &is) != napi_ok || !is ||
      napi_get_array_length(env, argv[0], &n) != napi_ok || napi_is_array(env, argv[1], &is) != napi_ok || !is ||
      napi_get_array_length(env, argv[1], &n2) != napi_ok || n != n2 || n > 65535) return throw_arg(env, "setBrokers(ips, ports)");
  sockaddr_any_t *brokers = calloc(n ? n : 1, sizeof *brokers);
  if (brokers == NULL) return errno_value(env, ENOMEM);
  for (uint32_t i = 0; i < n; i++) {
    napi_value ip_v, port_v;
    char ip[64];
    size_t ip_len;
    int64_t port;
    if (napi_get_element(env, argv[0], i, &ip_v) != napi_ok || napi_get_value_string_utf8(env, ip_v, ip, sizeof ip, &ip_len) != napi_ok ||
        napi_get_element(env, argv[1], i, &port_v) != napi_ok || int_arg(env, port_v, 1, 65535, "ports must be in [1, 65535]", &port)) {
      free(brokers);
      bool pending = false;
      if (napi_is_exception_pending(env, &pending) != napi_ok || pending) return NULL;
      return throw_arg(env, "ips must be strings");
    }
    struct sockaddr_in *v4 = (struct sockaddr_in *)&brokers[i].addr;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&brokers[i].addr;
    if (inet_pton(AF_INET, ip, &v4->sin_addr) == 1) {
      v4->sin_family = AF_INET;
      v4->sin_port = htons((uint16_t)port);
      brokers[i].len = sizeof *v4;
    } else if (inet_pton(AF_INET6, ip, &v6->sin6_addr) == 1) {
      v6->sin6_family = AF_INET6;
      v6->sin6_port = htons((uint16_t)port);
      brokers[i].len = sizeof *v6;
    } else {
      free(brokers);
      return throw_arg(env, "broker addresses must be numeric IPs (resolve them first)");
    }
  }
  if (st == NULL) {
    free(brokers);
    return NULL;
  }
  if (st->broker_moved == NULL) {
    // Broker indexes are broker-table slots (src/brokers/layout.ts MAX_BROKERS): one row each.
    st->broker_moved = calloc(kMaxBrokerSlots, sizeof *st->broker_moved);
    if (st->broker_moved == NULL) {
      free(brokers);
      return errno_value(env, ENOMEM);
    }
    st->nbrokers_moved = kMaxBrokerSlots;
  }
  free(st->brokers);
  st->brokers = brokers;
  st->nbrokers = n;
  return NULL;
}

static napi_value js_listen(napi_env env, napi_callback_info info) {
  state_t *st = get_state(env);
  napi_value argv[3];
  napi_valuetype t;
  char host[64];
  size_t host_len;
  int64_t port, backlog;
  if (get_args(env, info, 3, argv) || napi_typeof(env, argv[0], &t) != napi_ok) return NULL;
  int any = t == napi_null || t == napi_undefined;
  if (!any && (t != napi_string || napi_get_value_string_utf8(env, argv[0], host, sizeof host, &host_len) != napi_ok)) return throw_arg(env, "host must be a numeric IP, or null for every address");
  if (int_arg(env, argv[1], 1, 65535, "port must be in [1, 65535]", &port) || int_arg(env, argv[2], 1, 65535, "backlog must be in [1, 65535]", &backlog)) return NULL;
  if (st == NULL) return errno_value(env, ESHUTDOWN);
  int r = engine_listen(st, any ? NULL : host, (int)port, (int)backlog);
  if (r < 0) return errno_value(env, -r);
  napi_value index;
  return napi_create_int32(env, r, &index) == napi_ok ? index : NULL;
}

/** sdNotify(socketPath, message) -> undefined | errno name: a systemd notify datagram (notify.c). */
static napi_value js_sd_notify(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  char path[128], msg[4096];
  size_t path_len, msg_len;
  if (get_args(env, info, 2, argv)) return NULL;
  if (napi_get_value_string_utf8(env, argv[0], path, sizeof path, &path_len) != napi_ok || path_len + 1 >= sizeof path) return throw_arg(env, "socketPath must be a string of at most 107 bytes");
  if (napi_get_value_string_utf8(env, argv[1], msg, sizeof msg, &msg_len) != napi_ok || msg_len + 1 >= sizeof msg) return throw_arg(env, "message must be a string under 4 KiB");
  int e = notify_send(path, path_len, msg, msg_len);
  return e ? errno_value(env, e) : NULL;
}

/** closeListener(index): closes one listener (the index listen() gave); its connections go on. */
static napi_value js_close_listener(napi_env env, napi_callback_info info) {
  state_t *st = get_state(env);
  napi_value argv[1];
  int64_t index;
  if (get_args(env, info, 1, argv) || int_arg(env, argv[0], 0, 1 << 20, "index must be a listener index", &index)) return NULL;
  if (st != NULL) engine_close_listener(st, (int)index);
  return NULL;
}

static napi_value js_close_listeners(napi_env env, napi_callback_info info) {
  (void)info;
  state_t *st = get_state(env);
  if (st != NULL) engine_close_listeners(st);
  return NULL;
}

static napi_value js_want(napi_env env, napi_callback_info info) {
  state_t *st = get_state(env);
  napi_value argv[2];
  int64_t bytes;
  if (get_args(env, info, 2, argv)) return NULL;
  conn_t *c = slot_arg(env, st, argv[0]);
  if (int_arg(env, argv[1], 1, UINT32_MAX, "bytes must be a positive count", &bytes)) return NULL;
  if (c == NULL || c->phase != kPhaseReading) return errno_value(env, ENOTCONN);
  // Asked for no more than it has (it judged all it got): the next byte is what can change a verdict.
  c->want = (uint64_t)bytes > c->in_len ? (uint32_t)bytes : c->in_len + 1;
  engine_rearm_client(c);
  return NULL;
}

static napi_value js_refuse(napi_env env, napi_callback_info info) {
  state_t *st = get_state(env);
  napi_value argv[2];
  napi_valuetype t;
  void *bytes = NULL;
  size_t len = 0;
  if (get_args(env, info, 2, argv)) return NULL;
  conn_t *c = slot_arg(env, st, argv[0]);
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) != napi_ok || pending) return NULL;
  if (napi_typeof(env, argv[1], &t) != napi_ok) return NULL;
  if (t != napi_undefined && t != napi_null) {
    bool is = false;
    if (napi_is_buffer(env, argv[1], &is) != napi_ok || !is || napi_get_buffer_info(env, argv[1], &bytes, &len) != napi_ok || len > 64) {
      return throw_arg(env, "connack must be a Buffer of at most 64 bytes");
    }
  }
  if (c == NULL || c->phase == kPhasePumping || c->phase == kPhaseLingering) return errno_value(env, ENOTCONN);
  engine_refuse(c, bytes, len);
  flush_soon(st);
  return NULL;
}

/** skipIn(slot, n): the first n bytes the client sent (a PROXY header from a front balancer) are not
 *  forwarded; a broker that asks for a PROXY header gets Sluice's in their place. */
static napi_value js_skip_in(napi_env env, napi_callback_info info) {
  state_t *st = get_state(env);
  napi_value argv[2];
  int64_t n;
  if (get_args(env, info, 2, argv)) return NULL;
  conn_t *c = slot_arg(env, st, argv[0]);
  if (int_arg(env, argv[1], 0, UINT16_MAX, "bytes must be 0..65535", &n)) return NULL;
  if (c == NULL || c->phase != kPhaseReading) return errno_value(env, ENOTCONN);
  if (c->in_skip != 0 || (uint32_t)n > c->in_len) return errno_value(env, EINVAL);
  c->in_skip = (uint16_t)n;
  return NULL;
}

/** setIdle(slot, ms): the pair ends (reason idle) once its client has sent nothing for ms (0: never);
 *  counted from now. For a connection from its CONNECT phase on (the sweep looks at forwarding pairs). */
static napi_value js_set_idle(napi_env env, napi_callback_info info) {
  state_t *st = get_state(env);
  napi_value argv[2];
  int64_t ms;
  if (get_args(env, info, 2, argv)) return NULL;
  conn_t *c = slot_arg(env, st, argv[0]);
  if (int_arg(env, argv[1], 0, UINT32_MAX, "ms must be 0..2^32-1", &ms)) return NULL;
  if (c == NULL || c->phase < kPhaseReading || c->phase > kPhasePumping) return errno_value(env, ENOTCONN);
  c->idle_ms = (uint32_t)ms;
  c->idle_moved = c->dir[kClient].moved;
  c->idle_since = uv_now(st->loop);
  return NULL;
}

/** endPair(slot) -> undefined | errno name: ends a forwarding pair now (reason drained); its ended event
 *  follows on the next loop turn. */
static napi_value js_end_pair(napi_env env, napi_callback_info info) {
  state_t *st = get_state(env);
  napi_value argv[1];
  if (get_args(env, info, 1, argv)) return NULL;
  conn_t *c = slot_arg(env, st, argv[0]);
  if (c == NULL || c->phase != kPhasePumping || st->in_js) return errno_value(env, ENOTCONN);
  pair_close(c, kDrained);
  flush_soon(st);
  return NULL;
}

/** A thread-wide action that ends pairs (never while JS handles a batch): how many, as a JS number; their
 *  ended events follow on the next loop turn. */
static napi_value ended_count(napi_env env, uint32_t (*action)(state_t *)) {
  state_t *st = get_state(env);
  napi_value v;
  uint32_t n = 0;
  if (st != NULL && !st->in_js) {
    n = action(st);
    flush_soon(st);
  }
  NAPI_CHECK(napi_create_uint32(env, n, &v));
  return v;
}

/** tapBroker(slot, flags) -> undefined | errno name: a copy of the broker's first read (its CONNACK) comes
 *  as a kEvBrokerFirst event, as the kTap* flags say (they replace the slot's earlier ones; 0: none).
 *  EALREADY: that read has been made. */
static napi_value js_tap_broker(napi_env env, napi_callback_info info) {
  state_t *st = get_state(env);
  napi_value argv[2];
  int64_t flags;
  if (get_args(env, info, 2, argv)) return NULL;
  conn_t *c = slot_arg(env, st, argv[0]);
  if (int_arg(env, argv[1], 0, kTapCopy | kTapJudge | kTapReportAccept, "flags must be kTap* bits", &flags)) return NULL;
  if (c == NULL || c->phase < kPhaseReading || c->phase > kPhasePumping) return errno_value(env, ENOTCONN);
  if (c->dir[kBroker].moved > 0) return errno_value(env, EALREADY);  // the first read has been made
  c->tap = (uint8_t)flags;
  return NULL;
}

/** sweepIdle() -> number of pairs ended as idle. */
static napi_value js_sweep_idle(napi_env env, napi_callback_info info) {
  (void)info;
  return ended_count(env, engine_sweep_idle);
}

static napi_value js_connect(napi_env env, napi_callback_info info) {
  state_t *st = get_state(env);
  napi_value argv[3];
  int64_t broker;
  napi_valuetype t;
  void *prefix = NULL;
  size_t len = 0;
  if (get_args(env, info, 3, argv)) return NULL;
  conn_t *c = slot_arg(env, st, argv[0]);
  if (int_arg(env, argv[1], 0, 65535, "broker must be a broker index", &broker)) return NULL;
  if (napi_typeof(env, argv[2], &t) != napi_ok) return NULL;
  if (t != napi_undefined && t != napi_null) {
    bool is = false;
    if (napi_is_buffer(env, argv[2], &is) != napi_ok || !is || napi_get_buffer_info(env, argv[2], &prefix, &len) != napi_ok || len > UINT16_MAX) {
      return throw_arg(env, "prefix must be a Buffer of at most 65535 bytes");
    }
  }
  if (c == NULL) return errno_value(env, ENOTCONN);
  int e = engine_connect(c, (uint32_t)broker, prefix, len);
  return e ? errno_value(env, e) : NULL;
}

static napi_value js_evict_oldest(napi_env env, napi_callback_info info) {
  (void)info;
  state_t *st = get_state(env);
  napi_value arr, v, peer_v;
  char peer[64];
  uint32_t peer_len = 0;
  int64_t slot = st ? engine_evict_oldest(st, peer, sizeof peer, &peer_len) : -1;
  if (st) flush_soon(st);
  NAPI_CHECK(napi_create_array_with_length(env, 2, &arr));
  NAPI_CHECK(napi_create_double(env, (double)slot, &v));
  NAPI_CHECK(napi_create_string_utf8(env, peer, peer_len, &peer_v));
  NAPI_CHECK(napi_set_element(env, arr, 0, v));
  NAPI_CHECK(napi_set_element(env, arr, 1, peer_v));
  return arr;
}

/** [ip, port] of a socket address, or undefined (an IPv4 client of a dual-stack socket: its IPv4 form). */
static napi_value address_value(napi_env env, const struct sockaddr_storage *ss) {
  char ip[INET6_ADDRSTRLEN];
  int port;
  if (sockaddr_ip_port(ss, ip, sizeof ip, &port) != 0) return undefined(env);
  napi_value arr, ip_v, port_v;
  NAPI_CHECK(napi_create_array_with_length(env, 2, &arr));
  NAPI_CHECK(napi_create_string_utf8(env, ip, NAPI_AUTO_LENGTH, &ip_v));
  NAPI_CHECK(napi_create_int32(env, port, &port_v));
  NAPI_CHECK(napi_set_element(env, arr, 0, ip_v));
  NAPI_CHECK(napi_set_element(env, arr, 1, port_v));
  return arr;
}

/** The client's address (local 0: its peer, getpeername) or the address it connected to (getsockname). */
static napi_value client_address(napi_env env, napi_callback_info info, int local) {
  state_t *st = get_state(env);
  napi_value argv[1];
  if (get_args(env, info, 1, argv)) return NULL;
  conn_t *c = slot_arg(env, st, argv[0]);
  if (c == NULL || c->fd[kClient] < 0) return undefined(env);
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  int r = local ? getsockname(c->fd[kClient], (struct sockaddr *)&ss, &len) : getpeername(c->fd[kClient], (struct sockaddr *)&ss, &len);
  if (r != 0) return undefined(env);
  return address_value(env, &ss);
}

static napi_value js_remote_address(napi_env env, napi_callback_info info) { return client_address(env, info, 0); }
static napi_value js_local_address(napi_env env, napi_callback_info info) { return client_address(env, info, 1); }

static napi_value js_bytes_of(napi_env env, napi_callback_info info) {
  state_t *st = get_state(env);
  napi_value argv[1], buf;
  if (get_args(env, info, 1, argv)) return NULL;
  conn_t *c = slot_arg(env, st, argv[0]);
  if (c == NULL || c->in == NULL) return undefined(env);
  if (napi_create_buffer_copy(env, c->in_len, c->in, NULL, &buf) != napi_ok) return undefined(env);
  return buf;
}

// ---- pairs Node accepted (the hand-over path: tests and the forward-cpu bench) ---------------------

static int is_stream_socket(int fd) {
  int type = 0;
  socklen_t len = sizeof type;
  return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM;
}

static napi_value js_start(napi_env env, napi_callback_info info) {
  state_t *st = get_state(env);
  napi_value argv[3];
  napi_valuetype t;
  int64_t cfd, bfd;
  if (get_args(env, info, 3, argv)) return NULL;
  if (int_arg(env, argv[0], 0, INT32_MAX, "clientFd must be a file descriptor", &cfd)) return NULL;
  if (int_arg(env, argv[1], 0, INT32_MAX, "brokerFd must be a file descriptor", &bfd)) return NULL;
  if (napi_typeof(env, argv[2], &t) != napi_ok || t != napi_function) return throw_arg(env, "onEnd must be a function");
  if (cfd == bfd || !is_stream_socket((int)cfd) || !is_stream_socket((int)bfd)) return throw_arg(env, "both fds must be distinct stream sockets");
  if (st == NULL || st->tearing_down) return errno_value(env, ESHUTDOWN);
  // Our own dups: Node closes its fds when its sockets are destroyed.
  int fd[2] = { fcntl((int)cfd, F_DUPFD_CLOEXEC, 3), -1 };
  if (fd[0] < 0) return errno_value(env, errno);
  fd[1] = fcntl((int)bfd, F_DUPFD_CLOEXEC, 3);
  if (fd[1] < 0) {
    int e = errno;
    close(fd[0]);
    return errno_value(env, e);
  }
  for (int s = 0; s < 2; s++) fcntl(fd[s], F_SETFL, fcntl(fd[s], F_GETFL) | O_NONBLOCK);
  conn_t *c = conn_new(st);
  if (c == NULL) {
    close(fd[0]);
    close(fd[1]);
    return errno_value(env, ENOMEM);
  }
  c->fd[0] = fd[0];
  c->fd[1] = fd[1];
  c->legacy = 1;
  if (napi_create_reference(env, argv[2], 1, &c->legacy_cb) != napi_ok) {
    conn_free(c);
    return errno_value(env, ENOMEM);
  }
  // Bytes already in the kernel are read at once; the end comes through onEnd on a later loop turn.
  pair_start(c);
  flush_soon(st);
  return NULL;
}

// ---- thread-wide --------------------------------------------------------------------------------------

static napi_value js_stop_all(napi_env env, napi_callback_info info) {
  (void)info;
  return ended_count(env, engine_stop_all);
}

static napi_value js_configure(napi_env env, napi_callback_info info) {
  state_t *st = get_state(env);
  napi_value argv[2];
  int64_t bytes, max;
  if (get_args(env, info, 2, argv)) return NULL;
  if (int_arg(env, argv[0], 4096, 1 << 30, "pipeBytes must be an integer in [4096, 2^30]", &bytes)) return NULL;
  if (int_arg(env, argv[1], 0, 65536, "poolMax must be an integer in [0, 65536]", &max)) return NULL;
  if (st == NULL) return NULL;
  pipe_t *pool = calloc((size_t)max + 1, sizeof *pool);
  if (pool == NULL) {
    (void)napi_throw_error(env, "SLUICE_ERR_SPLICE_NOMEM", "out of memory");
    return NULL;
  }
  pool_drain(st);  // pooled pipes have the old size
  free(st->pool);
  st->pool = pool;
  st->pool_max = (uint32_t)max;
  st->pipe_bytes = (size_t)bytes;
  st->gen++;
  return NULL;
}

static napi_value js_drain_pool(napi_env env, napi_callback_info info) {
  (void)info;
  state_t *st = get_state(env);
  napi_value v;
  NAPI_CHECK(napi_create_uint32(env, st ? pool_drain(st) : 0, &v));
  return v;
}

static napi_status set_u32(napi_env env, napi_value obj, const char *key, uint32_t n) {
  napi_value v;
  napi_status s = napi_create_uint32(env, n, &v);
  return s == napi_ok ? napi_set_named_property(env, obj, key, v) : s;
}

static napi_value js_stats(napi_env env, napi_callback_info info) {
  (void)info;
  state_t *st = get_state(env);
  napi_value obj, v;
  NAPI_CHECK(napi_create_object(env, &obj));
  if (st == NULL) return obj;
  NAPI_CHECK(set_u32(env, obj, "pairs", st->pumping));
  NAPI_CHECK(set_u32(env, obj, "connections", st->live));
  NAPI_CHECK(set_u32(env, obj, "pipesPooled", st->pooled));
  NAPI_CHECK(set_u32(env, obj, "pipesInUse", st->pipes_out));
  NAPI_CHECK(set_u32(env, obj, "pipeBytes", (uint32_t)st->pipe_bytes));
  NAPI_CHECK(set_u32(env, obj, "poolMax", st->pool_max));
  NAPI_CHECK(set_u32(env, obj, "listeners", (uint32_t)st->nlisteners));
  NAPI_CHECK(napi_create_double(env, (double)st->holds, &v));
  NAPI_CHECK(napi_set_named_property(env, obj, "holds", v));
  // Bytes read and not yet written on, in pipes or in memory (a walk over the pairs: admin and tests only).
  double held = 0;
  for (link_t *l = st->conns.next; l != &st->conns; l = l->next) {
    const conn_t *c = container_of(l, conn_t, link);
    for (int d = 0; d < 2; d++) held += (double)c->dir[d].queued + (c->dir[d].pend ? (double)(c->dir[d].pend_len - c->dir[d].pend_off) : 0);
  }
  NAPI_CHECK(napi_create_double(env, held, &v));
  NAPI_CHECK(napi_set_named_property(env, obj, "bytesHeld", v));
  return obj;
}

// takeMoved(): live byte counts for the metrics, so a long-lived pair is visible before it ends.
static napi_value js_take_moved(napi_env env, napi_callback_info info) {
  (void)info;
  state_t *st = get_state(env);
  napi_value arr, v[2];
  NAPI_CHECK(napi_create_array_with_length(env, 2, &arr));
  for (int d = 0; d < 2; d++) {
    NAPI_CHECK(napi_create_double(env, st ? (double)st->moved[d] : 0, &v[d]));
    NAPI_CHECK(napi_set_element(env, arr, (uint32_t)d, v[d]));
  }
  // Reset only once the counts are safely in JS's hands.
  if (st) st->moved[0] = st->moved[1] = 0;
  return arr;
}

// takeMovedByBroker(out: Float64Array) -> rows: per broker index i, out[2i] client->broker and out[2i+1]
// broker->client bytes since the last call (for the rows that fit out); how many rows were written.
static napi_value js_take_moved_by_broker(napi_env env, napi_callback_info info) {
  state_t *st = get_state(env);
  napi_value argv[1], v;
  napi_typedarray_type type;
  size_t length;
  void *data;
  if (get_args(env, info, 1, argv)) return NULL;
  if (napi_get_typedarray_info(env, argv[0], &type, &length, &data, NULL, NULL) != napi_ok || type != napi_float64_array) return throw_arg(env, "out must be a Float64Array");
  uint32_t rows = st && st->broker_moved ? (uint32_t)(length / 2 < st->nbrokers_moved ? length / 2 : st->nbrokers_moved) : 0;
  double *out = data;
  for (uint32_t i = 0; i < rows; i++) {
    out[2 * i] = (double)st->broker_moved[i][0];
    out[2 * i + 1] = (double)st->broker_moved[i][1];
    st->broker_moved[i][0] = st->broker_moved[i][1] = 0;
  }
  NAPI_CHECK(napi_create_uint32(env, rows, &v));
  return v;
}

// ---- the thread's life --------------------------------------------------------------------------------

static void free_state(state_t *st) {
  if (st->hold_fd >= 0) close(st->hold_fd);
  free(st->pool);
  free(st->slots);
  free(st->free_slots);
  free(st->brokers);
  free(st->broker_moved);
  free(st->scratch);
  free(st->legacy_ends);
  free(st);
}

static void on_handle_closed(uv_handle_t *h) {
  state_t *st = h->data;
  if (--st->handles_open > 0) return;
  // The last handle of a thread being torn down: nothing of ours is left on its loop.
  engine_reap(st);
  if (st->epfd >= 0) close(st->epfd);
  (void)napi_remove_async_cleanup_hook(st->hook);  // the thread is going: nothing to do on failure
  free_state(st);
}

// A thread (worker) going away: close every connection and pipe without calling JS, and keep the loop
// running (async hook) until libuv has closed our handles; a worker's loop must be empty to close.
static void on_teardown(napi_async_cleanup_hook_handle hook, void *arg) {
  (void)hook;
  state_t *st = arg;
  st->tearing_down = 1;
  engine_stop_all(st);
  engine_close_listeners(st);
  pool_drain(st);
  if (st->handles_open == 0) {
    if (st->epfd >= 0) close(st->epfd);
    (void)napi_remove_async_cleanup_hook(st->hook);
    free_state(st);
    return;
  }
  uv_close((uv_handle_t *)&st->epoll_poll, on_handle_closed);
  uv_close((uv_handle_t *)&st->timer, on_handle_closed);
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  state_t *st = calloc(1, sizeof *st);
  if (st == NULL) return NULL;
  st->env = env;
  st->epfd = -1;
  st->hold_fd = -1;
  st->pipe_bytes = kDefaultPipeBytes;
  st->pool_max = kDefaultPoolMax;
  st->pool = calloc(kDefaultPoolMax + 1, sizeof *st->pool);
  napi_value resource, name;
  if (st->pool == NULL || napi_get_uv_event_loop(env, &st->loop) != napi_ok || engine_init(st) != 0 ||
      napi_create_object(env, &resource) != napi_ok || napi_create_reference(env, resource, 1, &st->resource) != napi_ok ||
      napi_create_string_utf8(env, "SluiceEngine", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_async_init(env, resource, name, &st->actx) != napi_ok ||
      napi_set_instance_data(env, st, NULL, NULL) != napi_ok ||
      napi_add_async_cleanup_hook(env, on_teardown, st, &st->hook) != napi_ok) {
    // Handles already initialised must still be closed by libuv: leak the little state rather than risk it.
    (void)napi_throw_error(env, "SLUICE_ERR_SPLICE_INIT", "native engine: could not set up per-thread state");
    return NULL;
  }
  napi_property_descriptor fns[] = {
    { "init", NULL, js_init, NULL, NULL, NULL, napi_enumerable, NULL },
    { "configureEngine", NULL, js_configure_engine, NULL, NULL, NULL, napi_enumerable, NULL },
    { "setBrokers", NULL, js_set_brokers, NULL, NULL, NULL, napi_enumerable, NULL },
    { "listen", NULL, js_listen, NULL, NULL, NULL, napi_enumerable, NULL },
    { "closeListeners", NULL, js_close_listeners, NULL, NULL, NULL, napi_enumerable, NULL },
    { "closeListener", NULL, js_close_listener, NULL, NULL, NULL, napi_enumerable, NULL },
    { "sdNotify", NULL, js_sd_notify, NULL, NULL, NULL, napi_enumerable, NULL },
    { "want", NULL, js_want, NULL, NULL, NULL, napi_enumerable, NULL },
    { "refuse", NULL, js_refuse, NULL, NULL, NULL, napi_enumerable, NULL },
    { "connect", NULL, js_connect, NULL, NULL, NULL, napi_enumerable, NULL },
    { "skipIn", NULL, js_skip_in, NULL, NULL, NULL, napi_enumerable, NULL },
    { "setIdle", NULL, js_set_idle, NULL, NULL, NULL, napi_enumerable, NULL },
    { "sweepIdle", NULL, js_sweep_idle, NULL, NULL, NULL, napi_enumerable, NULL },
    { "endPair", NULL, js_end_pair, NULL, NULL, NULL, napi_enumerable, NULL },
    { "tapBroker", NULL, js_tap_broker, NULL, NULL, NULL, napi_enumerable, NULL },
    { "evictOldest", NULL, js_evict_oldest, NULL, NULL, NULL, napi_enumerable, NULL },
    { "remoteAddress", NULL, js_remote_address, NULL, NULL, NULL, napi_enumerable, NULL },
    { "localAddress", NULL, js_local_address, NULL, NULL, NULL, napi_enumerable, NULL },
    { "bytesOf", NULL, js_bytes_of, NULL, NULL, NULL, napi_enumerable, NULL },
    { "start", NULL, js_start, NULL, NULL, NULL, napi_enumerable, NULL },
    { "stopAll", NULL, js_stop_all, NULL, NULL, NULL, napi_enumerable, NULL },
    { "configure", NULL, js_configure, NULL, NULL, NULL, napi_enumerable, NULL },
    { "drainPool", NULL, js_drain_pool, NULL, NULL, NULL, napi_enumerable, NULL },
    { "stats", NULL, js_stats, NULL, NULL, NULL, napi_enumerable, NULL },
    { "takeMoved", NULL, js_take_moved, NULL, NULL, NULL, napi_enumerable, NULL },
    { "takeMovedByBroker", NULL, js_take_moved_by_broker, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  if (napi_define_properties(env, exports, sizeof fns / sizeof fns[0], fns) != napi_ok) return NULL;
  return exports;
}
