// Splice data path (Node-API, C): moves a client/broker TCP pair's bytes through pooled pipes with
// splice(2), driven by uv_poll on the calling thread's own libuv loop, so the bytes never enter JS.
//
// JS API (one instance per thread; see workers/splice-addon.ts for the typed surface):
//   start(clientFd, brokerFd, onEnd) -> undefined | errno name   dup()s both fds and forwards the dups
//   stopAll() -> number                 ends every pair of this thread with reason "shutdown"
//   configure(pipeBytes, poolMax)       pipe size for new pipes, idle pipes kept; empties the pool
//   drainPool() -> number               closes idle pooled pipes (fd accounting, memory pressure)
//   stats() -> { pairs, pipesPooled, pipesInUse, pipeBytes, poolMax }
//   takeMoved() -> [c2b, b2c]           bytes read by every pair of this thread since the last call
// onEnd(bytesClientToBroker, bytesBrokerToClient, reasonCode, errnoName | undefined) runs once per pair.
#define _GNU_SOURCE
#ifndef __linux__
#error "splice(2) is Linux-only: other systems use the JS data path"
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <node_api.h>
#include <uv.h>

// Sides and directions: direction d moves bytes from side d to side 1 - d.
enum { kClient = 0, kBroker = 1 };
// Reason codes, in the order workers/forward-splice.ts maps them to ForwardEnd['reason'].
enum { kClientClosed = 0, kBrokerClosed = 1, kClientError = 2, kBrokerError = 3, kShutdown = 4 };
// Fairness: one wakeup moves at most this many pipe-fulls per direction, then yields to the loop
// (polling is level-triggered, so what is left wakes us again).
#define kRoundsPerWakeup 16
#define kDefaultPipeBytes (1 << 20)
#define kDefaultPoolMax 16  // idle 1 MiB pipes still count against fs.pipe-user-pages-soft (64 MiB per user)

typedef struct link { struct link *prev, *next; } link_t;  // circular list with a sentinel head

// cap: the size F_SETPIPE_SZ granted; gen: the configure() call it was made under.
typedef struct { int rd, wr; size_t cap; uint32_t gen; } pipe_t;

typedef struct {
  pipe_t pipe;      // rd == -1: none held (an idle direction gives its pipe back)
  size_t queued;    // bytes in the pipe, not yet written to the destination
  uint64_t moved;   // bytes read from the source
  int eof;          // the source sent FIN
  int shut;         // ...and it was passed on: shutdown(dst, SHUT_WR)
} dir_t;

typedef struct state state_t;

typedef struct {
  link_t link;          // first member: a link_t* is the pair_t*
  state_t *st;
  int fd[2];            // our dups, owned by the pair
  uv_poll_t poll[2];    // one poll handle per fd (libuv allows no more)
  int events[2];        // mask each handle polls for now (0: stopped)
  dir_t dir[2];
  int first;            // reason of the first FIN seen, -1 before: the first event decides, as in JS
  int ended;
  int quiet;            // end without calling JS (start() failed half-way: the caller gets the error)
  int open_handles;     // uv_poll handles not yet closed; the pair is freed at 0
  napi_ref cb, resource;
  napi_async_context actx;
} pair_t;

struct state {
  napi_env env;
  uv_loop_t *loop;
  link_t pairs;         // live pairs
  uint32_t live;
  uint32_t closing;     // pairs ended whose uv handles are still closing
  pipe_t *pool;         // idle pipes, LIFO (a warm pipe is reused first)
  uint32_t pooled, pool_max, pipes_out;
  size_t pipe_bytes;
  uint32_t gen;         // bumped by configure(): older pipes are not pooled again
  uint64_t moved[2];    // bytes read per direction by every pair since the last takeMoved()
  int tearing_down;
  napi_async_cleanup_hook_handle hook;
};

static void list_init(link_t *h) { h->prev = h->next = h; }
static void list_push(link_t *h, link_t *n) {
  n->next = h; n->prev = h->prev; h->prev->next = n; h->prev = n;
}
static void list_remove(link_t *n) { n->prev->next = n->next; n->next->prev = n->prev; list_init(n); }

// ---- pipe pool ---------------------------------------------------------------------------------------

static void pipe_close(pipe_t *p) {
  close(p->rd);
  close(p->wr);
  p->rd = p->wr = -1;
}

/** Takes an idle pipe from the pool or makes one; returns 0 or an errno. */
static int pipe_take(state_t *st, pipe_t *out) {
  if (st->pooled > 0) {
    *out = st->pool[--st->pooled];
    st->pipes_out++;
    return 0;
  }
  int fds[2];
  if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return errno;
  // A bigger pipe means fewer splice calls per MiB. Refused (EPERM over pipe-user-pages-soft, or
  // above pipe-max-size): keep the size the kernel gave, quietly.
  int cap = fcntl(fds[1], F_SETPIPE_SZ, (int)st->pipe_bytes);
  if (cap < 0) cap = fcntl(fds[1], F_GETPIPE_SZ);
  if (cap <= 0) cap = 65536;
  out->rd = fds[0];
  out->wr = fds[1];
  out->cap = (size_t)cap;
  out->gen = st->gen;
  st->pipes_out++;
  return 0;
}

/** Gives back an empty pipe: to the pool if it has room and the size is current, else closed. */
static void pipe_give(state_t *st, pipe_t *p) {
  st->pipes_out--;
  if (st->pooled < st->pool_max && p->gen == st->gen && !st->tearing_down) {
    st->pool[st->pooled++] = *p;
    p->rd = p->wr = -1;
  } else {
    pipe_close(p);
  }
}

static uint32_t pool_drain(state_t *st) {
  uint32_t n = st->pooled;
  while (st->pooled > 0) pipe_close(&st->pool[--st->pooled]);
  return n;
}

// ---- one pair ----------------------------------------------------------------------------------------

static void on_poll(uv_poll_t *handle, int status, int events);

static void on_handle_closed(uv_handle_t *handle) {
  pair_t *p = handle->data;
  if (--p->open_handles > 0) return;
  state_t *st = p->st;
  free(p);
  st->closing--;
  if (st->tearing_down && st->closing == 0) {
    // The last close callback of a thread being torn down: nothing of ours is left on its loop.
    napi_remove_async_cleanup_hook(st->hook);
    free(st->pool);
    free(st);
  }
}

/** Tells JS once how the pair ended; an exception in the callback is reported as uncaught. */
static void call_js(pair_t *p, int reason, int err) {
  napi_env env = p->st->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value cb, recv, argv[4];
  char name[64];
  if (napi_get_reference_value(env, p->cb, &cb) == napi_ok &&
      napi_get_reference_value(env, p->resource, &recv) == napi_ok) {
    napi_create_double(env, (double)p->dir[kClient].moved, &argv[0]);
    napi_create_double(env, (double)p->dir[kBroker].moved, &argv[1]);
    napi_create_int32(env, reason, &argv[2]);
    if (err) {
      uv_err_name_r(-err, name, sizeof name);  // on Unix a libuv error code is -errno
      napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &argv[3]);
    } else {
      napi_get_undefined(env, &argv[3]);
    }
    // make_callback, not call_function: it runs nextTicks/microtasks after, like any I/O callback.
    // The receiver must be an object, or the call silently does not happen.
    if (napi_make_callback(env, p->actx, recv, cb, 4, argv, NULL) == napi_pending_exception) {
      napi_value e;
      napi_get_and_clear_last_exception(env, &e);
      napi_fatal_exception(env, e);
    }
  }
  napi_close_handle_scope(env, scope);
}

/** Ends a pair: closes the poll handles and both fds, returns or closes its pipes, then tells JS (unless
 *  the thread is being torn down). The memory goes when libuv has closed both handles. */
static void end_pair(pair_t *p, int reason, int err) {
  if (p->ended) return;
  p->ended = 1;
  state_t *st = p->st;
  if (p->first >= 0) { reason = p->first; err = 0; }
  for (int s = 0; s < 2; s++) {
    // uv_close first: it takes the fd out of epoll by number, so the fd must still be ours then (closed
    // earlier, the number could already belong to a new pair's dup by the time the close ran).
    uv_close((uv_handle_t *)&p->poll[s], on_handle_closed);
    close(p->fd[s]);
    p->fd[s] = -1;
  }
  for (int d = 0; d < 2; d++) {
    dir_t *x = &p->dir[d];
    if (x->pipe.rd < 0) continue;
    if (x->queued == 0) {
      pipe_give(st, &x->pipe);
    } else {
      st->pipes_out--;
      pipe_close(&x->pipe);  // bytes nobody will read: a dirty pipe never goes back to the pool
    }
  }
  list_remove(&p->link);
  st->live--;
  st->closing++;
  if (!st->tearing_down && !p->quiet) call_js(p, reason, err);
  napi_delete_reference(st->env, p->cb);
  napi_delete_reference(st->env, p->resource);
  napi_async_destroy(st->env, p->actx);
}

static void note_eof(pair_t *p, int side) {
  if (p->first < 0) p->first = side == kClient ? kClientClosed : kBrokerClosed;
}

/** Moves what it can in direction d: source -> pipe -> destination, until both would block (or the
 *  round limit). Returns 0, or an errno with *side set to the side whose socket failed. */
static int pump_dir(pair_t *p, int d, int *side) {
  dir_t *x = &p->dir[d];
  int src = p->fd[d], dst = p->fd[1 - d];
  for (int round = 0; round < kRoundsPerWakeup; round++) {
    int progressed = 0;
    if (!x->eof && (x->pipe.rd < 0 || x->queued < x->pipe.cap)) {
      if (x->pipe.rd < 0) {
        int e = pipe_take(p->st, &x->pipe);
        if (e) { *side = d; return e; }
      }
      ssize_t n = splice(src, NULL, x->pipe.wr, NULL, x->pipe.cap - x->queued, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n > 0) {
        x->queued += (size_t)n;
        x->moved += (uint64_t)n;
        p->st->moved[d] += (uint64_t)n;
        progressed = 1;
      } else if (n == 0) {
        x->eof = 1;
        note_eof(p, d);
        progressed = 1;
      } else if (errno != EAGAIN && errno != EINTR) {
        *side = d;
        return errno;
      }
      // EAGAIN means "socket empty" or "pipe full" (slots, not bytes); telling them apart is not
      // needed: with bytes queued we wait for the destination, with none for the source (HAProxy's rule).
    }
    if (x->queued > 0) {
      // Node ignores SIGPIPE, so a closed destination is an EPIPE here, not a signal.
      ssize_t n = splice(x->pipe.rd, NULL, dst, NULL, x->queued, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n > 0) {
        x->queued -= (size_t)n;
        progressed = 1;
      } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
        *side = 1 - d;
        return errno;
      }
    }
    if (!progressed) break;
  }
  // An idle direction holds no pipe: it takes one again when data arrives.
  if (x->queued == 0 && x->pipe.rd >= 0) pipe_give(p->st, &x->pipe);
  if (x->eof && x->queued == 0 && !x->shut) {
    // Half-close: the source's FIN goes on once everything before it has. A failure here means the
    // destination is gone already; the other direction finds out when it next writes.
    shutdown(dst, SHUT_WR);
    x->shut = 1;
  }
  return 0;
}

/** Polls each fd for what its two directions wait on: readable while its outgoing pipe is empty
 *  (backpressure: a full pipe stops reading), writable while its incoming pipe has bytes. */
static int update_polls(pair_t *p) {
  for (int s = 0; s < 2; s++) {
    dir_t *out = &p->dir[s], *in = &p->dir[1 - s];
    int ev = 0;
    if (!out->eof && out->queued == 0) ev |= UV_READABLE;
    if (in->queued > 0) ev |= UV_WRITABLE;
    if (ev == p->events[s]) continue;
    int r = ev ? uv_poll_start(&p->poll[s], ev, on_poll) : uv_poll_stop(&p->poll[s]);
    if (r < 0) return r;
    p->events[s] = ev;
  }
  return 0;
}

static void pump(pair_t *p) {
  for (int d = 0; d < 2; d++) {
    int side = kClient;
    int e = pump_dir(p, d, &side);
    if (e) {
      end_pair(p, side == kClient ? kClientError : kBrokerError, e);
      return;
    }
  }
  if (p->dir[0].shut && p->dir[1].shut) {
    end_pair(p, p->first, 0);  // FIN both ways, everything delivered
    return;
  }
  int r = update_polls(p);
  if (r < 0) end_pair(p, kClientError, -r);
}

static void on_poll(uv_poll_t *handle, int status, int events) {
  (void)events;  // level-triggered: just try both directions
  pair_t *p = handle->data;
  if (p->ended) return;
  if (status < 0) {
    // libuv reports EPOLLERR (a reset, typically) as UV_EBADF: the socket's own error says what it was.
    int side = handle == &p->poll[kClient] ? kClient : kBroker;
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(p->fd[side], SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err == 0) err = -status;
    end_pair(p, side == kClient ? kClientError : kBrokerError, err);
    return;
  }
  pump(p);
}

// ---- JS functions ------------------------------------------------------------------------------------

static state_t *get_state(napi_env env) {
  void *st = NULL;
  napi_get_instance_data(env, &st);
  return st;
}

static napi_value throw_type(napi_env env, const char *msg) {
  napi_throw_type_error(env, "SLUICE_ERR_SPLICE_ARG", msg);
  return NULL;
}

static napi_value errno_value(napi_env env, int err) {
  char name[64];
  napi_value v;
  uv_err_name_r(-err, name, sizeof name);
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &v);
  return v;
}

/** Reads an integer argument in [lo, hi]; 0 on success, else a TypeError/RangeError is pending. */
static int int_arg(napi_env env, napi_value v, int64_t lo, int64_t hi, const char *what, int64_t *out) {
  napi_valuetype t;
  double dbl;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number || napi_get_value_double(env, v, &dbl) != napi_ok) {
    napi_throw_type_error(env, "SLUICE_ERR_SPLICE_ARG", what);
    return -1;
  }
  if (dbl != (double)(int64_t)dbl || dbl < (double)lo || dbl > (double)hi) {
    napi_throw_range_error(env, "SLUICE_ERR_SPLICE_ARG", what);
    return -1;
  }
  *out = (int64_t)dbl;
  return 0;
}

static int is_stream_socket(int fd) {
  int type = 0;
  socklen_t len = sizeof type;
  return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM;
}

// start(clientFd, brokerFd, onEnd): bad arguments throw; a system failure (EMFILE...) returns its name
// with nothing changed, so the caller can fall back to the JS path.
static napi_value js_start(napi_env env, napi_callback_info info) {
  state_t *st = get_state(env);
  size_t argc = 3;
  napi_value argv[3];
  napi_valuetype t;
  int64_t cfd, bfd;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3) return throw_type(env, "start(clientFd, brokerFd, onEnd)");
  if (int_arg(env, argv[0], 0, INT32_MAX, "clientFd must be a file descriptor", &cfd)) return NULL;
  if (int_arg(env, argv[1], 0, INT32_MAX, "brokerFd must be a file descriptor", &bfd)) return NULL;
  if (napi_typeof(env, argv[2], &t) != napi_ok || t != napi_function) return throw_type(env, "onEnd must be a function");
  if (cfd == bfd || !is_stream_socket((int)cfd) || !is_stream_socket((int)bfd)) return throw_type(env, "both fds must be distinct stream sockets");
  if (st == NULL || st->tearing_down) return errno_value(env, ESHUTDOWN);

  // Our own dups: Node closes its fds when its sockets are destroyed, and libuv refuses to poll an fd
  // it already watches (EEXIST).
  int fd[2] = { fcntl((int)cfd, F_DUPFD_CLOEXEC, 3), -1 };
  if (fd[0] < 0) return errno_value(env, errno);
  fd[1] = fcntl((int)bfd, F_DUPFD_CLOEXEC, 3);
  if (fd[1] < 0) {
    int e = errno;
    close(fd[0]);
    return errno_value(env, e);
  }
  pair_t *p = calloc(1, sizeof *p);
  if (p == NULL) {
    close(fd[0]);
    close(fd[1]);
    return errno_value(env, ENOMEM);
  }
  p->st = st;
  p->first = -1;
  list_init(&p->link);
  for (int d = 0; d < 2; d++) p->dir[d].pipe.rd = p->dir[d].pipe.wr = -1;
  for (int s = 0; s < 2; s++) {
    p->fd[s] = fd[s];
    int r = uv_poll_init(st->loop, &p->poll[s], fd[s]);  // also sets O_NONBLOCK (shared with Node's fd: it was set)
    if (r < 0) {
      // A handle whose init failed was never registered; one that succeeded must be closed (first).
      if (s == 0) {
        free(p);
      } else {
        p->open_handles = 1;
        st->closing++;
        uv_close((uv_handle_t *)&p->poll[0], on_handle_closed);
      }
      close(fd[0]);
      close(fd[1]);
      return errno_value(env, -r);
    }
    p->poll[s].data = p;
    p->open_handles++;
  }
  napi_value resource, name;
  napi_create_object(env, &resource);
  napi_create_string_utf8(env, "SluiceSplicePair", NAPI_AUTO_LENGTH, &name);
  napi_create_reference(env, argv[2], 1, &p->cb);
  napi_create_reference(env, resource, 1, &p->resource);
  napi_async_init(env, resource, name, &p->actx);
  list_push(&st->pairs, &p->link);
  st->live++;
  // Both sides start readable-polled; bytes already in the kernel wake the first loop turn.
  int r = update_polls(p);
  if (r < 0) {
    p->quiet = 1;
    end_pair(p, kClientError, -r);
    return errno_value(env, -r);
  }
  return NULL;  // undefined: forwarding
}

/** Ends every pair this thread has now (pairs started by the callbacks are left alone). */
static uint32_t stop_all(state_t *st) {
  link_t now;
  list_init(&now);
  if (st->pairs.next != &st->pairs) {
    // Move the whole list under a local head: end_pair unlinks from whichever list a pair is on.
    now.next = st->pairs.next;
    now.prev = st->pairs.prev;
    now.next->prev = &now;
    now.prev->next = &now;
    list_init(&st->pairs);
  }
  uint32_t n = 0;
  while (now.next != &now) {
    end_pair((pair_t *)now.next, kShutdown, 0);
    n++;
  }
  return n;
}

static napi_value js_stop_all(napi_env env, napi_callback_info info) {
  (void)info;
  state_t *st = get_state(env);
  napi_value v;
  napi_create_uint32(env, st ? stop_all(st) : 0, &v);
  return v;
}

static napi_value js_configure(napi_env env, napi_callback_info info) {
  state_t *st = get_state(env);
  size_t argc = 2;
  napi_value argv[2];
  int64_t bytes, max;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2) return throw_type(env, "configure(pipeBytes, poolMax)");
  if (int_arg(env, argv[0], 4096, 1 << 30, "pipeBytes must be an integer in [4096, 2^30]", &bytes)) return NULL;
  if (int_arg(env, argv[1], 0, 65536, "poolMax must be an integer in [0, 65536]", &max)) return NULL;
  if (st == NULL) return NULL;
  pipe_t *pool = calloc((size_t)max + 1, sizeof *pool);
  if (pool == NULL) {
    napi_throw_error(env, "SLUICE_ERR_SPLICE_NOMEM", "out of memory");
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
  napi_create_uint32(env, st ? pool_drain(st) : 0, &v);
  return v;
}

static void set_u32(napi_env env, napi_value obj, const char *key, uint32_t n) {
  napi_value v;
  napi_create_uint32(env, n, &v);
  napi_set_named_property(env, obj, key, v);
}

static napi_value js_stats(napi_env env, napi_callback_info info) {
  (void)info;
  state_t *st = get_state(env);
  napi_value obj;
  napi_create_object(env, &obj);
  if (st == NULL) return obj;
  set_u32(env, obj, "pairs", st->live);
  set_u32(env, obj, "pipesPooled", st->pooled);
  set_u32(env, obj, "pipesInUse", st->pipes_out);
  set_u32(env, obj, "pipeBytes", (uint32_t)st->pipe_bytes);
  set_u32(env, obj, "poolMax", st->pool_max);
  return obj;
}

// takeMoved(): live byte counts for the metrics, so a long-lived pair is visible before it ends.
static napi_value js_take_moved(napi_env env, napi_callback_info info) {
  (void)info;
  state_t *st = get_state(env);
  napi_value arr, v;
  napi_create_array_with_length(env, 2, &arr);
  for (int d = 0; d < 2; d++) {
    napi_create_double(env, st ? (double)st->moved[d] : 0, &v);
    napi_set_element(env, arr, (uint32_t)d, v);
    if (st) st->moved[d] = 0;
  }
  return arr;
}

// A thread (worker) going away: close every pair and pipe without calling JS, and keep the loop
// running (async hook) until libuv has closed our handles; a worker's loop must be empty to close.
static void on_teardown(napi_async_cleanup_hook_handle hook, void *arg) {
  (void)hook;
  state_t *st = arg;
  st->tearing_down = 1;
  stop_all(st);
  pool_drain(st);
  if (st->closing == 0) {
    napi_remove_async_cleanup_hook(st->hook);
    free(st->pool);
    free(st);
  }
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  state_t *st = calloc(1, sizeof *st);
  if (st == NULL) return NULL;
  st->env = env;
  st->pipe_bytes = kDefaultPipeBytes;
  st->pool_max = kDefaultPoolMax;
  st->pool = calloc(kDefaultPoolMax + 1, sizeof *st->pool);
  list_init(&st->pairs);
  if (st->pool == NULL || napi_get_uv_event_loop(env, &st->loop) != napi_ok ||
      napi_set_instance_data(env, st, NULL, NULL) != napi_ok ||
      napi_add_async_cleanup_hook(env, on_teardown, st, &st->hook) != napi_ok) {
    free(st->pool);
    free(st);
    napi_throw_error(env, "SLUICE_ERR_SPLICE_INIT", "splice addon: could not set up per-thread state");
    return NULL;
  }
  napi_property_descriptor fns[] = {
    { "start", NULL, js_start, NULL, NULL, NULL, napi_enumerable, NULL },
    { "stopAll", NULL, js_stop_all, NULL, NULL, NULL, napi_enumerable, NULL },
    { "configure", NULL, js_configure, NULL, NULL, NULL, napi_enumerable, NULL },
    { "drainPool", NULL, js_drain_pool, NULL, NULL, NULL, napi_enumerable, NULL },
    { "stats", NULL, js_stats, NULL, NULL, NULL, napi_enumerable, NULL },
    { "takeMoved", NULL, js_take_moved, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  napi_define_properties(env, exports, sizeof fns / sizeof fns[0], fns);
  return exports;
}
