// The pump: moves a forwarded pair's bytes both ways, and the pipe pool it splices through.
//
// Per direction and wake-up, bytes are first read with recv(2) into the thread's scratch buffer and sent
// on at once (one copy; what has arrived is coalesced into one read and one write). A read that fills
// the scratch buffer is a bulk transfer: the rest of that wake-up goes socket -> pipe -> socket with
// splice(2), inside the kernel (HAProxy's splice-auto idea). Bytes a destination cannot take yet wait
// in the direction (userspace remainder or pipe), and the source is not read again until they are gone
// (backpressure: nothing is buffered without bound). Order is kept: a direction holds bytes in at most
// one of the two places.
//
// Polling is edge-triggered (EPOLLET): a source is read until a short read or EAGAIN, so nothing is left
// that a new edge would not announce. Level-triggered, every event costs a second poll of its socket
// (epoll puts it back on the ready list), and the worker's loop, polling the engine's epoll fd, walks that
// list once more (measured on the bench's iot workload: Sluice's CPU per message against c-splice went
// from 1.16x to 1.08x with edges). Where the pump stops with bytes still in a socket (the round limit
// below), it re-arms the fd (EPOLL_CTL_MOD reports what is ready now); a change of interest re-arms too.
//
// Coalescing: a source that streams small writes (a small read moments after the previous one, with
// nothing coming back in between) is held: its socket is read once kHoldBytes are in or at the next
// tick of the hold timer, at most st->hold_ns later, so what it writes meanwhile moves in one read and
// one write instead of one each per write. Like Nagle's algorithm in TCP, a quiet link is never held
// (its first read goes on at once), and request/response traffic never is (an answer ends the hold).
// A tick that finds nothing new, or an answer, releases the source.
#include "sluice.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

// Fairness: one wake-up moves at most this many rounds per direction, then yields to the loop.
#define kRoundsPerWakeup 16
// Reads this size or larger go on through the pipe (the scratch buffer is at least this big).
#define kCopyBytes (16 * 1024)
// A held source is read once this much is in (or at the tick): the batch coalescing aims for.
#define kHoldBytes (64 * 1024)

// ---- pipe pool ----------------------------------------------------------------------------------------

static void pipe_close(pipe_t *p) {
  close(p->rd);
  close(p->wr);
  p->rd = p->wr = -1;
}

/** Takes an idle pipe from the pool or makes one; returns 0 or an errno. */
int pipe_take(state_t *st, pipe_t *out) {
  if (st->pooled > 0) {
    *out = st->pool[--st->pooled];
    st->pipes_out++;
    return 0;
  }
  int fds[2];
  if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return errno;
  // A bigger pipe means fewer splice calls per MiB. Refused (EPERM over pipe-user-pages-soft, or above
  // pipe-max-size): keep the size the kernel gave, quietly.
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
void pipe_give(state_t *st, pipe_t *p) {
  st->pipes_out--;
  if (st->pooled < st->pool_max && p->gen == st->gen && !st->tearing_down) {
    st->pool[st->pooled++] = *p;
    p->rd = p->wr = -1;
  } else {
    pipe_close(p);
  }
}

uint32_t pool_drain(state_t *st) {
  uint32_t n = st->pooled;
  while (st->pooled > 0) pipe_close(&st->pool[--st->pooled]);
  return n;
}

// ---- one pair -----------------------------------------------------------------------------------------

static void pend_free(dir_t *x) {
  free(x->pend);
  x->pend = NULL;
  x->pend_len = x->pend_off = 0;
}

/** Keeps bytes the destination did not take, to write first next time. Returns 0 or ENOMEM. */
static int pend_keep(dir_t *x, const uint8_t *bytes, size_t n) {
  x->pend = malloc(n);
  if (x->pend == NULL) return ENOMEM;
  memcpy(x->pend, bytes, n);
  x->pend_len = (uint32_t)n;
  x->pend_off = 0;
  return 0;
}

static uint64_t monotonic_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int pump_init(state_t *st) {
  list_init(&st->held);
  st->hold_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  return st->hold_fd < 0 ? errno : 0;
}

/** Arms the hold tick unless it is armed; 0 if the timer cannot be set (then nothing may be held). */
static int hold_arm(state_t *st) {
  if (st->hold_armed) return 1;
  struct itimerspec t = { .it_value = { .tv_sec = (time_t)(st->hold_ns / 1000000000u), .tv_nsec = (long)(st->hold_ns % 1000000000u) } };
  if (timerfd_settime(st->hold_fd, 0, &t, NULL) != 0) return 0;
  st->hold_armed = 1;
  return 1;
}

static void hold_release(conn_t *c, int d);

/** Direction d just moved a small read on: holds its source if it is streaming. A held socket's
 *  SO_RCVLOWAT is kHoldBytes: epoll reports it readable once that much is in (or its FIN), and the hold
 *  tick reads whatever came before. Its interest does not change (no epoll_ctl). */
static void maybe_hold(conn_t *c, int d) {
  state_t *st = c->st;
  dir_t *x = &c->dir[d];
  if (st->hold_ns == 0 || x->held) return;
  uint64_t other = c->dir[1 - d].moved;
  if (other != x->other_moved) {
    // The other side sent something since the last read: an answer, so somebody may be waiting on these
    // bytes (holding them would add the delay to every round trip). No clock read: this read starts over.
    x->other_moved = other;
    x->read_ns = 0;
    return;
  }
  // Streaming: the previous read was moments ago, with nothing back since.
  uint64_t now = monotonic_ns();
  int streaming = x->read_ns != 0 && now - x->read_ns < st->hold_ns;
  x->read_ns = now;
  if (!streaming) return;
  int lowat = kHoldBytes;
  if (setsockopt(c->fd[d], SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof lowat) != 0) return;
  x->held = 1;
  x->tick_moved = x->moved;
  x->tick_other = other;
  st->holds++;
  if (list_empty(&c->hold_link)) list_push(&st->held, &c->hold_link);
  if (!hold_arm(st)) {
    // No tick would come: bytes under the low-water mark would wait for more. Not held, then.
    list_remove(&c->hold_link);
    hold_release(c, d);
  }
}

/** Ends direction d's hold: its socket is readable again from the first byte. */
static void hold_release(conn_t *c, int d) {
  int one = 1;
  (void)setsockopt(c->fd[d], SOL_SOCKET, SO_RCVLOWAT, &one, sizeof one);
  c->dir[d].held = 0;
  c->dir[d].read_ns = 0;  // the next hold needs two close reads again
}

static void note_eof(conn_t *c, int d) {
  c->dir[d].eof = 1;
  if (c->first < 0) c->first = d == kClient ? kClientClosed : kBrokerClosed;
}

/** Moves what it can in direction d (with may_read 0: only writes out what it holds). `fin_in`: epoll
 *  said the source's FIN has arrived (EPOLLRDHUP), so a short read took everything before it and the
 *  read that would return 0 is not made (HAProxy does the same). Returns 0, or an errno with *side set to
 *  the side whose socket failed. */
void count_moved(conn_t *c, int d, uint64_t n) {
  state_t *st = c->st;
  st->moved[d] += n;
  // Pairs started by start() (legacy) have no broker index; placed ones do.
  if (!c->legacy && c->broker < st->nbrokers_moved) st->broker_moved[c->broker][d] += n;
}

/** The most of the broker's first read a tap copies: a CONNACK with its properties fits. */
#define kTapBytes 1024

/** `b` (n bytes) starts with a CONNACK whose return / reason code is 0 (MQTT 3.1.1 §3.2, 5.0 §3.2: 0x20,
 *  the remaining length in 1..4 bytes, the acknowledge flags, then the code). Anything else: 0. */
static int connack_accepts(const uint8_t *b, size_t n) {
  if (n < 4 || b[0] != 0x20) return 0;
  size_t last = 1;  // the remaining length's last byte
  while (last < n && (b[last] & 0x80)) {
    if (++last > 4) return 0;
  }
  return last + 2 < n && b[last + 2] == 0;
}

/** The broker's first read: to JS as the tap flags say (an accepting CONNACK stays here unless asked for:
 *  passive health costs healthy traffic no JS call). */
static void tap_first_read(conn_t *c, const uint8_t *b, size_t n) {
  uint8_t tap = c->tap;
  c->tap = 0;
  if ((tap & (kTapCopy | kTapReportAccept)) || !connack_accepts(b, n)) conn_broker_first(c, b, (uint32_t)(n < kTapBytes ? n : kTapBytes));
}

static int pump_dir(conn_t *c, int d, int *side, int may_read, int fin_in) {
  state_t *st = c->st;
  dir_t *x = &c->dir[d];
  int src = c->fd[d], dst = c->fd[1 - d];
  int splicing = 0;  // this wake-up's reads go through the pipe: a bulk transfer
  for (int round = 0; round < kRoundsPerWakeup; round++) {
    // 1. Userspace bytes first: the CONNECT and what followed it, or a copy the destination did not take.
    while (x->pend != NULL) {
      ssize_t n = send(dst, x->pend + x->pend_off, x->pend_len - x->pend_off, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        x->pend_off += (uint32_t)n;
        if (x->pend_off == x->pend_len) pend_free(x);
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && errno == EAGAIN) {
        goto done;  // the destination is full: wait until it is writable
      } else {
        *side = 1 - d;
        return n < 0 ? errno : EPIPE;
      }
    }
    // 2. Bytes in the pipe.
    if (x->queued > 0) {
      ssize_t n = splice(x->pipe.rd, NULL, dst, NULL, x->queued, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n > 0) x->queued -= (size_t)n;
      else if (n < 0 && errno != EAGAIN && errno != EINTR) {
        *side = 1 - d;
        return errno;
      }
      if (x->queued > 0) goto done;
    }
    // 3. Both are empty: read more (so bytes stay in order).
    if (x->eof || !may_read) goto done;
    if (!splicing) {
      ssize_t n = recv(src, st->scratch, kCopyBytes, MSG_DONTWAIT);
      if (n > 0) {
        // The broker's first bytes (its CONNACK) for JS to read too; they are forwarded as ever.
        if (d == kBroker && c->tap) tap_first_read(c, st->scratch, (size_t)n);
        x->moved += (uint64_t)n;
        count_moved(c, d, (uint64_t)n);
        ssize_t w = send(dst, st->scratch, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0) {
          if (errno != EAGAIN && errno != EINTR) {
            *side = 1 - d;
            return errno;
          }
          w = 0;
        }
        if (w < n) {
          int e = pend_keep(x, st->scratch + w, (size_t)(n - w));
          if (e) {
            *side = d;
            return e;
          }
          goto done;
        }
        // A short read emptied the socket's receive queue: nothing more until the next wake-up (or, with
        // the FIN in, ever). A full one is a bulk transfer: the rest of this wake-up is spliced.
        if (n < kCopyBytes) {
          if (fin_in) note_eof(c, d);
          else maybe_hold(c, d);
          goto done;
        }
        splicing = 1;
        continue;
      }
      if (n == 0) {
        note_eof(c, d);
        goto done;
      }
      if (errno == EAGAIN || errno == EINTR) goto done;
      *side = d;
      return errno;
    }
    if (x->pipe.rd < 0) {
      int e = pipe_take(st, &x->pipe);
      if (e) {
        *side = d;
        return e;
      }
    }
    ssize_t n = splice(src, NULL, x->pipe.wr, NULL, x->pipe.cap - x->queued, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n > 0) {
      x->queued += (size_t)n;
      x->moved += (uint64_t)n;
      count_moved(c, d, (uint64_t)n);
    } else if (n == 0) {
      note_eof(c, d);
    } else if (errno == EAGAIN || errno == EINTR) {
      // The socket is empty (or the pipe full: step 2 of the next round writes it out).
      if (x->queued == 0) goto done;
    } else {
      *side = d;
      return errno;
    }
  }
  // The round limit: the source may hold more, and no new edge would say so. Re-arm both fds (their next
  // update_interest does EPOLL_CTL_MOD), so the next wake-up goes on where this one stopped.
  c->events[0] = c->events[1] = kRearm;
done:
  // An idle direction holds no pipe: it takes one again for the next bulk transfer.
  if (x->queued == 0 && x->pipe.rd >= 0) pipe_give(st, &x->pipe);
  if (x->eof && x->queued == 0 && x->pend == NULL && !x->shut) {
    // Half-close: the source's FIN goes on once everything before it has. A failure here means the
    // destination is gone already; the other direction finds out when it next writes. When the other
    // direction is done too, the pair ends now and close() sends this FIN (nothing is left unread).
    if (!c->dir[1 - d].shut) shutdown(dst, SHUT_WR);
    x->shut = 1;
  }
  return 0;
}

/** Polls each fd for what its two directions wait on: readable while its outgoing direction holds no
 *  bytes (backpressure), writable while its incoming direction holds some. */
static int update_interest(conn_t *c) {
  for (int s = 0; s < 2; s++) {
    dir_t *out = &c->dir[s], *in = &c->dir[1 - s];
    uint32_t ev = EPOLLET;
    if (!out->eof && out->queued == 0 && out->pend == NULL) ev |= EPOLLIN | EPOLLRDHUP;
    if (in->queued > 0 || in->pend != NULL) ev |= EPOLLOUT;
    int e = conn_interest(c, s, ev);
    if (e) return e;
  }
  return 0;
}

/** Starts forwarding a connection whose both fds are set: what is in c->in goes to the broker first. */
void pair_start(conn_t *c) {
  state_t *st = c->st;
  c->phase = kPhasePumping;
  st->pumping++;
  list_init(&c->hold_link);
  for (int d = 0; d < 2; d++) c->dir[d].pipe.rd = c->dir[d].pipe.wr = -1;
  if (c->in != NULL && c->in_len > 0) {
    // The CONNECT and every byte read after it: counted as client->broker bytes, written first.
    dir_t *x = &c->dir[kClient];
    x->pend = c->in;
    x->pend_len = c->in_len;
    x->pend_off = 0;
    // A PROXY header in front (in_skip bytes) goes out first but is not the client's: not counted.
    x->moved += c->in_len - c->in_skip;
    count_moved(c, kClient, c->in_len - c->in_skip);
    c->in = NULL;
  } else {
    free(c->in);
    c->in = NULL;
  }
  c->in_len = c->in_cap = 0;
  c->in_skip = 0;
  // The CONNECT phase left something in the client's socket (its last read filled the buffer, or the
  // FIN is in): only a re-armed edge would say so.
  if (c->unread) {
    c->unread = 0;
    c->events[kClient] = kRearm;
  }
  // Write the CONNECT out now; reads wait for readiness (a read now would mostly answer EAGAIN: the
  // client waits for its CONNACK, the broker has not answered yet).
  int side = kClient;
  int e = pump_dir(c, kClient, &side, 0, 0);
  if (e) {
    pair_end(c, side == kClient ? kClientError : kBrokerError, e);
    return;
  }
  e = update_interest(c);
  if (e) pair_end(c, kClientError, e);
}

/** Moves directions dirs[0..n) (fin_dir: the one whose source epoll saw the FIN of, or -1), then ends
 *  the pair or sets what its fds are polled for. */
static void pair_move(conn_t *c, const int *dirs, int n, int fin_dir) {
  for (int k = 0; k < n; k++) {
    int failed = kClient;
    int e = pump_dir(c, dirs[k], &failed, 1, dirs[k] == fin_dir);
    if (e) {
      pair_end(c, failed == kClient ? kClientError : kBrokerError, e);
      return;
    }
  }
  if (c->dir[0].shut && c->dir[1].shut) {
    pair_end(c, c->first, 0);  // FIN both ways, everything delivered
    return;
  }
  int e = update_interest(c);
  if (e) pair_end(c, kClientError, e);
}

/** Side `side` is ready (`events`): move the direction that reads from it if it is readable, and the
 *  one that writes to it if it is writable. Only those: trying the other direction would mostly read
 *  EAGAIN (one syscall per event, measured). */
void pair_pump(conn_t *c, int side, uint32_t events) {
  int dirs[2], n = 0;
  if (events & (EPOLLIN | EPOLLHUP | EPOLLRDHUP)) dirs[n++] = side;
  if (events & EPOLLOUT) dirs[n++] = 1 - side;
  pair_move(c, dirs, n, (events & EPOLLRDHUP) ? side : -1);
}

/** The hold timer fired: every held source is read. One that wrote during the tick and got no answer
 *  stays held for the next tick; the others are released (a quiet source is never held long). */
void pump_hold_tick(state_t *st) {
  uint64_t expirations;
  if (read(st->hold_fd, &expirations, sizeof expirations) < 0) return;  // EAGAIN: a stale wake-up
  st->hold_armed = 0;
  link_t due;  // this tick's entries (a source held during it goes on st->held, for the next tick)
  list_init(&due);
  list_take_all(&due, &st->held);
  while (!list_empty(&due)) {
    conn_t *c = container_of(due.next, conn_t, hold_link);
    list_remove(&c->hold_link);
    int dirs[2], n = 0;
    for (int d = 0; d < 2; d++) if (c->dir[d].held) dirs[n++] = d;
    pair_move(c, dirs, n, -1);
    if (c->phase != kPhasePumping) continue;  // it ended (and its memory waits for the end of the wake-up)
    for (int k = 0; k < n; k++) {
      int d = dirs[k];
      dir_t *x = &c->dir[d];
      uint64_t other = c->dir[1 - d].moved;
      if (x->moved != x->tick_moved && other == x->tick_other && !x->eof) {
        x->tick_moved = x->moved;
        x->tick_other = other;
        if (list_empty(&c->hold_link)) list_push(&st->held, &c->hold_link);
      } else {
        hold_release(c, d);
      }
    }
  }
  if (list_empty(&st->held) || hold_arm(st)) return;
  while (!list_empty(&st->held)) {  // no timer: release everything rather than leave bytes waiting
    conn_t *c = container_of(st->held.next, conn_t, hold_link);
    list_remove(&c->hold_link);
    for (int d = 0; d < 2; d++) if (c->dir[d].held) hold_release(c, d);
  }
}

/** EPOLLERR on one side: its socket's own error says what happened (a reset, typically). */
void pair_on_error(conn_t *c, int side, int err) {
  int so = 0;
  socklen_t len = sizeof so;
  if (getsockopt(c->fd[side], SOL_SOCKET, SO_ERROR, &so, &len) == 0 && so != 0) err = so;
  pair_end(c, side == kClient ? kClientError : kBrokerError, err ? err : ECONNRESET);
}

/** Ends a pair: pipes back to the pool (a dirty one is closed), JS told (batched, or the legacy callback),
 *  fds closed. The first FIN decides the reason when there was one. */
/** Ends the pair for a reason of Sluice's own (idle, drained): that reason stands, whoever sent a FIN
 *  before (a half-open client never answers its broker's FIN). */
void pair_close(conn_t *c, int reason) {
  c->first = -1;
  pair_end(c, reason, 0);
}

void pair_end(conn_t *c, int reason, int err) {
  state_t *st = c->st;
  if (c->first >= 0) {
    reason = c->first;
    err = 0;
  }
  list_remove(&c->hold_link);
  for (int d = 0; d < 2; d++) {
    dir_t *x = &c->dir[d];
    if (x->pipe.rd >= 0) {
      if (x->queued == 0) {
        pipe_give(st, &x->pipe);
      } else {
        st->pipes_out--;
        pipe_close(&x->pipe);  // bytes nobody will read: a dirty pipe never goes back to the pool
      }
    }
    pend_free(x);
  }
  st->pumping--;
  conn_pair_ended(c, reason, err);
}
